"""`searchapp demo`: semantic search working offline, on a synthetic library and a toy model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from searchapp.cli.options import settings_of
from searchapp.cli.output import console, print_summary

if TYPE_CHECKING:
    from searchapp.demo.run import DemoResult
    from searchapp.search import PhotoHit

TOY_MODEL_NOTICE = (
    "[bold]This is a toy model for trying searchapp offline.[/] The demo draws a synthetic "
    "library (coloured shapes on plain backgrounds) and trains a tiny CLIP model on that world "
    "right here, in a few minutes, without downloading anything. It understands only that world; "
    "for your own photos, index them with a pretrained model (`searchapp index PATH`)."
)


def start_ui(data_dir: Path) -> bool:
    """Start the UI on the library in `data_dir`, if this installation has one.

    The hook for the UI issue: a `ui.serve(data_dir)` function. Returns False (and does
    nothing) while `ui/` is only a placeholder.
    """
    import ui

    serve = getattr(ui, "serve", None)
    if not callable(serve):
        return False
    serve(data_dir)
    return True


def _print_hits(title: str, hits: list[PhotoHit], photos: Path) -> None:
    console.print(f"\n[bold]{title}[/]", highlight=False)
    for rank, hit in enumerate(hits, start=1):
        path = Path(hit.path)
        shown = path.relative_to(photos) if path.is_relative_to(photos) else path
        console.print(f"  {rank}. {hit.score:.3f}  {shown}", highlight=False)


def _print_result(result: DemoResult) -> None:
    report = result.model.report
    if result.reused_model:
        console.print("Model: trained before, reused from the cache.")
    else:
        early = report["steps"] < report["planned_steps"]
        console.print(
            f"Model: trained {report['steps']} steps in {report['seconds']:.0f} s "
            f"({report['cpu_seconds']:.0f} s of CPU) on freshly drawn pictures"
            + (
                ", stopped early: this machine is slower than the time budget assumes."
                if early
                else "."
            ),
            highlight=False,
        )
    print_summary(result.summary)
    photos = result.paths.photos
    console.print(f"\nExample searches (photos under {photos}, named after what they show):")
    for query, hits in result.searches:
        _print_hits(f'search "{query}"', hits, photos)
    image, hits = result.similar
    shown = image.relative_to(result.paths.root)
    _print_hits(f"similar {shown} (a picture not in the library)", hits, photos)
    data_dir = result.paths.library
    console.print(
        "\nTry your own queries on the demo library:\n"
        f'  searchapp --data-dir {data_dir} search "a small purple triangle"\n'
        f"  searchapp --data-dir {data_dir} similar {image}",
        highlight=False,
        soft_wrap=True,
    )


def demo(
    ctx: typer.Context,
    no_ui: Annotated[
        bool, typer.Option("--no-ui", help="Only print example searches; do not start the UI.")
    ] = False,
) -> None:
    """Try searchapp offline: a synthetic photo library and a toy model trained on it here."""
    from searchapp.cli.progress import counting_progress, index_progress
    from searchapp.demo.run import DemoHooks, run_demo

    console.print(TOY_MODEL_NOTICE, highlight=False)
    hooks = DemoHooks(
        stage=lambda message: console.print(message, highlight=False),
        training=lambda: counting_progress("Training the toy model", "steps/s"),
        indexing=index_progress,
    )
    result = run_demo(settings_of(ctx), hooks=hooks)
    _print_result(result)
    if no_ui:
        return
    if not start_ui(result.paths.library):
        console.print(
            "\nThe UI does not exist yet (ui/ is a placeholder), so there is none to start; "
            "use the commands above."
        )


def register(app: typer.Typer) -> None:
    app.command()(demo)
