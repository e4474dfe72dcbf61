"""`searchapp tag`, `classify`, `tags` and `info`: zero-shot tags over the stored vectors."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from searchapp.cli.options import JsonOption, open_library
from searchapp.cli.output import console, print_json
from searchapp.errors import LibraryEmptyError, SearchAppError

if TYPE_CHECKING:
    from searchapp.library import Library
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


def auto_tag(library: Library) -> list[TagRun]:
    """Tags for newly indexed images, from every stored vocabulary; a failure here is reported
    but never undoes the indexing."""
    from searchapp.tagging.tagger import Tagger

    model = library.store.active_model()
    if model is None:
        return []
    try:
        return Tagger(library, model).tag_new_images()
    except SearchAppError as exc:
        log.warning("automatic tagging skipped: %s", exc)
        console.print(f"[yellow]Automatic tagging skipped:[/] {exc}", highlight=False)
        return []


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
    from searchapp.tagging.tagger import Tagger

    label_list = _labels(labels)
    template_list = _templates(templates)
    source = str(labels.resolve()) if labels is not None else "built-in"
    library = open_library(ctx)
    try:
        tagger = Tagger(library, library.query_model())
        vocabulary, replaced = tagger.use_vocabulary(
            label_list, template_list, threshold, top_k, source
        )
        if as_json:
            run = tagger.tag(vocabulary)
        else:
            with counting_progress("Tagging", "images/s") as progress:
                run = tagger.tag(vocabulary, progress)
    finally:
        library.close()
    if as_json:
        print_json(
            {
                **run.as_dict(),
                "labels": len(label_list.labels),
                "duplicates_dropped": label_list.duplicates_dropped,
                "replaced_earlier_tags": replaced,
            }
        )
        return
    if label_list.duplicates_dropped:
        console.print(f"Ignored {label_list.duplicates_dropped} repeated labels.")
    if replaced:
        console.print(f"The vocabulary {vocabulary.name} changed; its earlier tags were replaced.")
    print_tag_runs([run])


def classify(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A photo, inside or outside the library.")],
    labels: LabelsOption = None,
    templates: TemplatesOption = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many labels.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Rank the labels of a vocabulary for one photo, best first."""
    from searchapp.search import SearchService
    from searchapp.tagging.tagger import Tagger

    label_list = _labels(labels)
    template_list = _templates(templates)
    library = open_library(ctx)
    try:
        service = SearchService(library)
        vector = service.image_vector(image)
        ranking = Tagger(library, service.model).classify(vector, label_list, template_list)
    finally:
        library.close()
    ranking = ranking[:top_k]
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
    library = open_library(ctx)
    try:
        model = library.query_model()
        counts = library.store.tags.counts(model.id)
    finally:
        library.close()
    if vocabulary is not None:
        counts = [row for row in counts if row[0] == vocabulary]
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


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def info(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file in the library.")],
    as_json: JsonOption = False,
) -> None:
    """What the library holds for one photo: size, dimensions, capture time, camera, tags."""
    absolute = os.path.abspath(path)
    library = open_library(ctx)
    try:
        details = library.store.file_details(absolute)
        model = library.store.active_model()
        image_tags = library.store.tags.tags_of_file(absolute, model.id) if model else []
    finally:
        library.close()
    if details is None:
        if model is None:
            raise LibraryEmptyError(
                "Nothing is indexed yet in this data directory. Run `searchapp index PATH` first."
            )
        raise SearchAppError(
            f"{path} is not in the library. Index its folder with `searchapp index FOLDER`."
        )
    report: dict[str, object] = {
        "path": details.path,
        "status": details.status,
        "error": details.error,
        "bytes": details.size,
        "modified": _iso(details.mtime_ns / 1e9),
        "indexed": _iso(details.indexed_at),
        "width": details.width,
        "height": details.height,
        "captured_at": details.captured_at,
        "camera": details.camera,
        "orientation": details.orientation,
        "tags": [
            {"vocabulary": t.vocabulary, "label": t.label, "score": round(t.score, 6)}
            for t in image_tags
        ],
    }
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        if key != "tags" and value is not None:
            typer.echo(f"{key}: {value}")
    for t in image_tags:
        typer.echo(f"tag: {t.label} ({t.score:.3f}, {t.vocabulary})")


def register(app: typer.Typer) -> None:
    for command in (tag, classify, tags, info):
        app.command()(command)
