"""`searchapp` commands. Heavy modules (torch, open_clip, faiss) load only inside commands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from typer.core import TyperGroup

from searchapp.cli import demo as demo_commands
from searchapp.cli import doctor as doctor_commands
from searchapp.cli import duplicates as duplicates_commands
from searchapp.cli import tagging as tagging_commands
from searchapp.cli import ui_command
from searchapp.cli import vlm as vlm_commands
from searchapp.cli.options import (
    AfterOption,
    BeforeOption,
    CameraOption,
    FolderOption,
    HybridOption,
    JsonObjectOption,
    JsonOption,
    MinHeightOption,
    MinScoreOption,
    MinWidthOption,
    ModelConfigOption,
    ModelOption,
    OffsetOption,
    PrecisionOption,
    PretrainedOption,
    RuntimeOption,
    SortOption,
    TagFilterOption,
    TopKOption,
    TypeOption,
    fill_bare_options,
    filter_from_flags,
    model_spec,
    open_service,
    search_options,
    settings_of,
)
from searchapp.cli.output import (
    console,
    error_console,
    print_index_times,
    print_json,
    print_results,
    print_searchable,
    print_summary,
)
from searchapp.cli.serve import serve
from searchapp.cli.tagging import print_tag_runs
from searchapp.cli.watch import echo_indexer_report, roots_app, watch
from searchapp.config import Settings
from searchapp.errors import DatabaseUnavailableError, SearchAppError
from searchapp.file_names import printable_message


def _is_storage_exception(exc: Exception) -> bool:
    """An `OSError` or a database error; SQLAlchemy is not imported for this (a database error
    can only come from a command that imported it), so `models` and `--help` start light."""
    if isinstance(exc, OSError):
        return True
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.DBAPIError)


QUICK_EXIT_COMMANDS = frozenset({"search", "similar", "classify", "tag", "models"})
"""Read-only commands that, once they have printed their answer and closed the library, leave
the process at once (`_exit_now`): the interpreter's teardown of the imported modules (SQLAlchemy,
pydantic, ONNX Runtime, FAISS) costs 0.2-0.3 s on this machine, more than the query itself."""


class _FriendlyErrors(TyperGroup):
    """Turns a SearchAppError into one line on stderr and an exit code, never a traceback."""

    finished_quick_command = False

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
            if ctx.invoked_subcommand in QUICK_EXIT_COMMANDS:
                _FriendlyErrors.finished_quick_command = True
            return result
        except SearchAppError as exc:
            self._fail(exc)
        except Exception as exc:
            if not _is_storage_exception(exc):
                raise
            from searchapp.store.failures import storage_error
            from searchapp.store.postgres import is_disconnect, unavailable_message

            settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
            if settings.database_url is not None and is_disconnect(exc):
                self._fail(
                    DatabaseUnavailableError(unavailable_message(settings.database_url, exc))
                )
            failure = storage_error(exc, settings.database_path)
            if failure is None:
                raise
            self._fail(failure)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return list(super().parse_args(ctx, fill_bare_options(args)))

    @staticmethod
    def _fail(exc: SearchAppError) -> NoReturn:
        line = escape(printable_message(str(exc)))
        error_console.print(f"[bold red]Error:[/] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_FriendlyErrors,
    help="Semantic search for your photo library: index folders, then search by text or image.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        typer.echo(f"searchapp {package_version('searchapp')}")
    except PackageNotFoundError:
        typer.echo("searchapp (not installed)")
    raise typer.Exit()


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
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
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
        bool,
        typer.Option("--json", help="Print the summary as a JSON object, without a progress bar."),
    ] = False,
    tag: Annotated[
        bool,
        typer.Option(
            "--tag/--no-tag",
            help="Tag new photos with the stored vocabularies (default: SEARCHAPP_AUTO_TAG, on).",
        ),
    ] = True,
    runtime: RuntimeOption = None,
    precision: PrecisionOption = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Read and embed on a Ray cluster: ray://HEAD:10001, HEAD:6379 or auto; "
            "`--ray` alone starts a local Ray (needs the `scale` extra).",
        ),
    ] = None,
) -> None:
    """Index photo folders: new and changed photos are embedded, gone ones forgotten."""
    from searchapp.cli.progress import index_and_build_progress
    from searchapp.service import IndexRequest, LibraryService

    settings = settings_of(ctx)
    updates = {
        "batch_size": batch_size,
        "decode_workers": workers,
        "runtime": runtime.value if runtime else None,
        "precision": precision.value if precision else None,
        "ray_address": ray,
    }
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    spec = model_spec(model, pretrained, model_config)
    request = IndexRequest(spec, reindex, tag, verify, runner="ray" if ray else "local")
    LibraryService.check_index_paths(paths)
    with LibraryService(settings) as service:
        service.check_can_index(runner=request.runner)
        if as_json:
            report = service.index(paths, request)
        else:
            with index_and_build_progress() as (progress, build_progress):
                report = service.index(
                    paths,
                    request,
                    progress,
                    build_progress=build_progress,
                    on_searchable=print_searchable,
                )
    if as_json:
        print_json(report.as_dict())
        return
    print_summary(report.summary)
    print_tag_runs(report.tagging, new_images_only=True)
    print_index_times(report)
    if report.tagging_skipped:
        console.print(
            f"[yellow]Automatic tagging skipped:[/] {report.tagging_skipped}", highlight=False
        )


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(
            help='What to look for, e.g. "kids on a beach"; combine terms rclip-style: '
            '"2:golden retriever + ./pool.jpg - fruit" (N: weight, + and - between terms, '
            "an existing image file is an image, photo:ID an indexed photo)."
        ),
    ],
    top_k: TopKOption = 10,
    offset: OffsetOption = 0,
    min_score: MinScoreOption = None,
    sort: SortOption = "score",
    folder: FolderOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    tag: TagFilterOption = None,
    file_type: TypeOption = None,
    camera: CameraOption = None,
    min_width: MinWidthOption = None,
    min_height: MinHeightOption = None,
    hybrid: HybridOption = False,
    as_json: JsonOption = False,
    model: ModelOption = None,
    pretrained: PretrainedOption = None,
    model_config: ModelConfigOption = None,
) -> None:
    """Find photos that match a text description (or a combination of texts and photos)."""
    from searchapp.query import parse_query

    parsed = parse_query(query)
    photo_filter = filter_from_flags(
        folder, after, before, tag, file_type, camera, min_width, min_height
    )
    options = search_options(top_k, offset, min_score, sort, hybrid)
    with open_service(ctx, existing=True, single_query=True) as service:
        response = service.search(
            parsed, photo_filter, options, model_spec(model, pretrained, model_config)
        )
    for note in response.notes:  # stderr: --json output stays one document
        error_console.print(f"[yellow]Note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    print_results(response.results, as_json)


@app.command()
def similar(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A photo, inside or outside the library.")],
    top_k: TopKOption = 10,
    offset: OffsetOption = 0,
    min_score: MinScoreOption = None,
    sort: SortOption = "score",
    folder: FolderOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    tag: TagFilterOption = None,
    file_type: TypeOption = None,
    camera: CameraOption = None,
    min_width: MinWidthOption = None,
    min_height: MinHeightOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find photos that look like IMAGE."""
    from searchapp.query import Query

    photo_filter = filter_from_flags(
        folder, after, before, tag, file_type, camera, min_width, min_height
    )
    options = search_options(top_k, offset, min_score, sort)
    with open_service(ctx, existing=True, single_query=True) as service:
        response = service.search(Query.image(image), photo_filter, options)
    print_results(response.results, as_json)


@app.command()
def status(ctx: typer.Context, as_json: JsonObjectOption = False) -> None:
    """What the library holds: model, counts, failed files."""
    with open_service(ctx, existing=True) as service:
        report = service.status()
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        if key not in ("failed", "indexer", "vector_index", "skipped_formats"):
            typer.echo(f"{key}: {'(none yet)' if value is None else value}")
    for extension, skipped in report["skipped_formats"].items():
        typer.echo(
            f"skipped: {skipped['count']} {extension} files; to index them: {skipped['needs']}"
        )
    echo_indexer_report(report["indexer"])
    vector_index = report["vector_index"]
    building = " (building)" if vector_index["building"] else ""
    kind = vector_index["kind"] or "(none yet)"
    typer.echo(f"vector index: {kind} {vector_index['params'] or ''}{building}".rstrip())
    for failure in report["failed"]:
        typer.echo(f"failed: {failure['path']}: {failure['reason']}")  # shown form already


models_app = typer.Typer(
    help="open_clip architectures with their pretrained tags; `fetch` saves weights to a file.",
    invoke_without_command=True,
)


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List open_clip architectures with their pretrained tags (`searchapp models`)."""
    if ctx.invoked_subcommand is not None:
        return
    from searchapp.models.catalog import pretrained_models

    for name, tag in pretrained_models():
        typer.echo(f"{name}\t{tag}")


@models_app.command("fetch")
def models_fetch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An open_clip architecture, e.g. ViT-B-32-256.")],
    to: Annotated[Path, typer.Option("--to", help="The file to save the weights to.")],
    pretrained: Annotated[
        str | None,
        typer.Option(
            help="The pretrained tag (`searchapp models`); needed when there are several."
        ),
    ] = None,
) -> None:
    """Save a model's weights to one file (on a connected machine), to copy to an offline one
    and index there with --pretrained FILE."""
    from searchapp.models.fetch import fetch_weights

    fetched = fetch_weights(name, pretrained, to, settings_of(ctx).cache_dir / "weights")
    typer.echo(
        f"saved {fetched.name} ({fetched.tag}) to {fetched.path} ({fetched.size / 1e6:.1f} MB, "
        f"sha256 {fetched.sha256[:16]}…); on the offline machine: searchapp index PATH "
        f"--model {fetched.name} --pretrained {fetched.path.name}"
    )


tagging_commands.register(app)
duplicates_commands.register(app)
demo_commands.register(app)
doctor_commands.register(app)
ui_command.register(app)
vlm_commands.register(app)
app.command()(watch)
app.command()(serve)
app.add_typer(roots_app, name="roots")
app.add_typer(models_app, name="models")


def _exit_now() -> None:
    """Flush what was written and end the process without the interpreter's teardown."""
    try:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # e.g. a closed pipe: the ordinary exit reports it
    os._exit(0)


def main() -> None:
    _FriendlyErrors.finished_quick_command = False
    try:
        app()
    except KeyboardInterrupt:
        error_console.print("Interrupted; everything committed so far is kept.")
        sys.exit(130)
    except SystemExit as done:
        if done.code in (0, None) and _FriendlyErrors.finished_quick_command:
            _exit_now()
        raise
