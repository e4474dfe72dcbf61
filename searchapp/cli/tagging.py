"""`searchapp tag`, `classify`, `tags` and `info`: zero-shot tags over the stored vectors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from searchapp.cli.options import JsonObjectOption, JsonOption, open_service
from searchapp.cli.output import console, print_json

if TYPE_CHECKING:
    from searchapp.tagging.tagger import TagRun
    from searchapp.tagging.vocabulary import LabelList

log = logging.getLogger(__name__)

LabelsOption = Annotated[
    Path | None,
    typer.Option(
        "--labels",
        help="A text file with one label per line; stored as a vocabulary named after the file. "
        "Default: the built-in vocabulary for personal photos.",
    ),
]
TemplatesOption = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help='Prompt templates, one per line with {} for the label (e.g. "a photo of {}."). '
        "Default: the vocabulary's templates, else the built-in ones.",
    ),
]


def _labels(path: Path | None) -> LabelList:
    from searchapp.tagging.vocabulary import default_labels, read_label_file

    return default_labels() if path is None else read_label_file(path)


def _templates(path: Path | None) -> tuple[str, ...] | None:
    from searchapp.tagging.vocabulary import read_template_file

    return None if path is None else read_template_file(path)


def print_tag_runs(runs: Sequence[TagRun], new_images_only: bool = False) -> None:
    for run in runs:
        images = "new images" if new_images_only else "images"
        console.print(
            f"Tagged {run.images} {images} with vocabulary [bold]{run.vocabulary}[/]: "
            f"{run.tags} tags (score ≥ {run.threshold:g}, at most {run.top_k} per image) "
            f"in {run.seconds:.1f} s",
            highlight=False,
        )


def tag(
    ctx: typer.Context,
    labels: LabelsOption = None,
    templates: TemplatesOption = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Keep labels scoring at least this (0-1). Default 0.1; see the README for what "
            "scores mean for CLIP and SigLIP models.",
        ),
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", min=1, help="At most this many tags per image.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Tag every indexed photo with the labels of a vocabulary that fit it."""
    from searchapp.cli.progress import counting_progress

    label_list = _labels(labels)
    template_list = _templates(templates)
    source = str(labels.resolve()) if labels is not None else "built-in"
    with open_service(ctx, existing=True) as service:
        if as_json:
            report = service.tag(label_list, template_list, threshold, top_k, source)
        else:
            with counting_progress("Tagging", "images/s") as progress:
                report = service.tag(label_list, template_list, threshold, top_k, source, progress)
    if as_json:
        print_json(report.as_dict())
        return
    if report.duplicates_dropped:
        console.print(f"Ignored {report.duplicates_dropped} repeated labels.")
    if report.replaced_earlier_tags:
        console.print(
            f"The vocabulary {report.run.vocabulary} changed; its earlier tags were replaced."
        )
    print_tag_runs([report.run])


def classify(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A photo, inside or outside the library.")],
    labels: LabelsOption = None,
    templates: TemplatesOption = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many labels.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Rank the labels of a vocabulary for one photo, best first."""
    label_list = _labels(labels)
    template_list = _templates(templates)
    with open_service(ctx, existing=True, single_query=True) as service:
        ranking = service.classify(service.image_vector(image), label_list, template_list, top_k)
    if as_json:
        print_json([{"label": label, "score": round(score, 6)} for label, score in ranking])
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("label")
    for rank, (label, score) in enumerate(ranking, start=1):
        table.add_row(str(rank), f"{score:.3f}", label)
    console.print(table)


def tags(
    ctx: typer.Context,
    vocabulary: Annotated[
        str | None, typer.Option("--vocabulary", help="Only this vocabulary's tags.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the tags in the library with how many photos carry each."""
    with open_service(ctx, existing=True) as service:
        counts = service.tag_counts(vocabulary)
    if as_json:
        print_json([{"vocabulary": v, "label": label, "images": n} for v, label, n in counts])
        return
    if not counts:
        console.print("No tags yet. Run `searchapp tag` (or index some photos) first.")
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("images", justify="right")
    table.add_column("tag")
    table.add_column("vocabulary", style="dim")
    for name, label, n in counts:
        table.add_row(str(n), label, name)
    console.print(table)


def info(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file in the library.")],
    as_json: JsonObjectOption = False,
) -> None:
    """What the library holds for one photo: size, dimensions, capture time, camera, tags."""
    with open_service(ctx, existing=True) as service:
        details = service.photo_at(path)
    report = details.as_dict()
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        if key not in ("tags", "path_bytes") and value is not None:
            typer.echo(f"{key}: {value}")
    for t in details.tags:
        typer.echo(f"tag: {t.label} ({t.score:.3f}, {t.vocabulary})")


def register(app: typer.Typer) -> None:
    for command in (tag, classify, tags, info):
        app.command()(command)
