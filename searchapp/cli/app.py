"""`searchapp` commands. Heavy modules (torch, open_clip, faiss) load only inside commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from typer.core import TyperGroup

from searchapp.cli import demo as demo_commands
from searchapp.cli import doctor as doctor_commands
from searchapp.cli import duplicates as duplicates_commands
from searchapp.cli import index_command, quick_exit, search_commands, ui_command
from searchapp.cli import tagging as tagging_commands
from searchapp.cli import vlm as vlm_commands
from searchapp.cli.models_commands import models_app
from searchapp.cli.options import JsonObjectOption, fill_bare_options, open_service
from searchapp.cli.output import error_console, print_json
from searchapp.cli.serve import serve
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
"""Read-only commands that leave the process at once when done (see `cli.quick_exit`); `index`
asks for it itself (not with a Ray cluster, whose shutdown runs at exit)."""


class _FriendlyErrors(TyperGroup):
    """Turns a SearchAppError into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
            if ctx.invoked_subcommand in QUICK_EXIT_COMMANDS:
                quick_exit.request()
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


index_command.register(app)
search_commands.register(app)
app.command()(status)
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


def main() -> None:
    quick_exit.reset()
    try:
        app()
    except KeyboardInterrupt:
        error_console.print("Interrupted; everything committed so far is kept.")
        sys.exit(130)
    except SystemExit as done:
        if done.code in (0, None) and quick_exit.requested():
            quick_exit.exit_now()
        raise
