"""`searchapp` commands. Heavy modules (torch, open_clip, faiss) load only inside commands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from searchapp.cli import demo as demo_commands
from searchapp.cli import tagging as tagging_commands
from searchapp.cli.options import (
    JsonOption,
    MinScoreOption,
    ModelConfigOption,
    ModelOption,
    PretrainedOption,
    TagFilterOption,
    TopKOption,
    model_spec,
    open_library,
    settings_of,
)
from searchapp.cli.output import error_console, print_json, print_results, print_summary
from searchapp.cli.tagging import auto_tag, print_tag_runs
from searchapp.cli.watch import echo_indexer_report, indexer_report, roots_app, watch
from searchapp.config import Settings
from searchapp.errors import SearchAppError


class _FriendlyErrors(TyperGroup):
    """Turns a SearchAppError into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SearchAppError as exc:
            error_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_FriendlyErrors,
    help="Semantic search for your photo library: index folders, then search by text or image.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="SEARCHAPP_DATA_DIR",
            help="Where the library lives (database, vector index). "
            "Default: the per-user data directory.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    ctx.obj = Settings(**overrides)


@app.command()
def index(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Photo folders (or files) to index.")],
    model: ModelOption = None,
    pretrained: PretrainedOption = None,
    model_config: ModelConfigOption = None,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex",
            help="Read and re-embed every photo (with the given model, if one is given).",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Read and hash every photo again (not only those whose stat changed) and "
            "re-embed those whose content changed.",
        ),
    ] = False,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per model call.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel decode workers.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON, without a progress bar.")
    ] = False,
    tag: Annotated[
        bool,
        typer.Option(
            "--tag/--no-tag",
            help="Tag new photos with the stored vocabularies (default: SEARCHAPP_AUTO_TAG, on).",
        ),
    ] = True,
) -> None:
    """Index photo folders: new and changed photos are embedded, gone ones forgotten."""
    from searchapp.cli.progress import index_progress

    for path in paths:
        if not path.exists():
            raise SearchAppError(f"No such file or folder: {path}")
        try:
            str(path.absolute()).encode("utf-8")
        except UnicodeEncodeError:
            raise SearchAppError(
                f"The path {os.fsencode(path)!r} is not valid UTF-8; rename it to index it."
            ) from None
    settings = settings_of(ctx)
    updates = {"batch_size": batch_size, "decode_workers": workers}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    from indexer.ignore import IgnoreRules
    from indexer.pipeline import Indexer
    from searchapp.library import Library
    from searchapp.writer_lock import WriterLock

    lock = WriterLock(settings.data_dir, "searchapp index")
    library = Library(settings)
    try:
        stored = library.indexing_model(model_spec(model, pretrained, model_config), reindex)
        indexer = Indexer.for_library(
            library,
            stored,
            ignore=IgnoreRules(library.store.roots.ignore_patterns()),
            verify=verify,
            reembed=reindex,
        )
        if as_json:
            summary = indexer.run([str(p) for p in paths])
        else:
            with index_progress() as progress:
                summary = indexer.run([str(p) for p in paths], progress)
        library.vector_index(stored)
        tag_runs = auto_tag(library) if tag and settings.auto_tag else []
    finally:
        library.close()
        lock.release()
    if as_json:
        print_json({**summary.as_dict(), "tagging": [run.as_dict() for run in tag_runs]})
    else:
        print_summary(summary)
        print_tag_runs(tag_runs, new_images_only=True)


@app.command()
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help='What to look for, e.g. "kids on a beach".')],
    top_k: TopKOption = 10,
    min_score: MinScoreOption = None,
    as_json: JsonOption = False,
    tag: TagFilterOption = None,
    model: ModelOption = None,
    pretrained: PretrainedOption = None,
    model_config: ModelConfigOption = None,
) -> None:
    """Find photos that match a text description."""
    from searchapp.search import SearchService

    library = open_library(ctx)
    try:
        service = SearchService(library, model_spec(model, pretrained, model_config))
        results = service.text(text, top_k, min_score, tag or ())
    finally:
        library.close()
    print_results(results, as_json)


@app.command()
def similar(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A photo, inside or outside the library.")],
    top_k: TopKOption = 10,
    min_score: MinScoreOption = None,
    as_json: JsonOption = False,
    tag: TagFilterOption = None,
) -> None:
    """Find photos that look like IMAGE."""
    from searchapp.search import SearchService

    library = open_library(ctx)
    try:
        results = SearchService(library).similar(image, top_k, min_score, tag or ())
    finally:
        library.close()
    print_results(results, as_json)


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What the library holds: model, counts, failed files."""
    library = open_library(ctx)
    try:
        model = library.store.active_model()
        counts = library.store.counts()
        failures = library.store.failures()
        indexer = indexer_report(library.store)
    finally:
        library.close()
    report = {
        "data_dir": str(settings_of(ctx).data_dir),
        "model": model.identity.describe() if model else None,
        **counts,
        "failed": [{"path": path, "reason": reason} for path, reason in failures],
        "indexer": indexer,
    }
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        if key not in ("failed", "indexer"):
            typer.echo(f"{key}: {value}")
    echo_indexer_report(indexer)
    for failure in failures:
        typer.echo(f"failed: {failure[0]}: {failure[1]}")


@app.command()
def models() -> None:
    """List open_clip architectures with their pretrained tags."""
    import open_clip

    for name, tag in open_clip.list_pretrained():
        typer.echo(f"{name}\t{tag}")


tagging_commands.register(app)
demo_commands.register(app)
app.command()(watch)
app.add_typer(roots_app, name="roots")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        error_console.print("Interrupted; everything committed so far is kept.")
        sys.exit(130)
