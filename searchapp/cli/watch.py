"""`searchapp watch` (the background indexer), `searchapp roots ...`, and the indexer's part of
`searchapp status`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from searchapp.cli.options import (
    JsonObjectOption,
    ModelConfigOption,
    ModelOption,
    PretrainedOption,
    model_spec,
    open_service,
    settings_of,
)
from searchapp.cli.output import print_json
from searchapp.errors import NoRootsError

if TYPE_CHECKING:
    pass

roots_app = typer.Typer(
    help="The folders the background indexer watches, and the names it ignores.",
    no_args_is_help=True,
)
PathsArgument = Annotated[list[Path], typer.Argument(help="Photo folders.")]
PatternsArgument = Annotated[
    list[str],
    typer.Argument(help='Glob patterns: a name ("@eaDir", ".*") or, with "/", a whole path.'),
]


def watch(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders to add to the library roots first (they are remembered)."),
    ] = None,
    model: ModelOption = None,
    pretrained: PretrainedOption = None,
    model_config: ModelConfigOption = None,
    settle: Annotated[
        float,
        typer.Option(min=0, help="Seconds a file must stay unchanged before it is read."),
    ] = 1.0,
    rescan_minutes: Annotated[
        float,
        typer.Option(min=0, help="Full scan period, for changes no event reported (0: never)."),
    ] = 60.0,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per model call.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel decode workers.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings only.")] = False,
) -> None:
    """Index continuously: a full scan, then photos as they are added, changed, moved or
    deleted. Runs until Ctrl-C or SIGTERM, which finish the batch in flight first."""
    from indexer.daemon import WatchDaemon, WatchOptions, serve
    from searchapp.service import LibraryService
    from searchapp.writer_lock import WriterLock

    if logging.getLogger().level > logging.WARNING:  # the operator sees warnings from any part
        logging.getLogger().setLevel(logging.WARNING)
    for ours in ("indexer", "searchapp"):  # progress (one line per batch) only from ours
        logging.getLogger(ours).setLevel(logging.WARNING if quiet else logging.INFO)
    settings = settings_of(ctx)
    updates = {"batch_size": batch_size, "decode_workers": workers}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    with WriterLock(settings.data_dir, "searchapp watch"), LibraryService(settings) as service:
        for path in paths or []:
            service.add_root(path)
        if not service.roots()[0]:
            raise NoRootsError(
                "No folders to watch yet. Give one (`searchapp watch ~/Pictures`) or add it "
                "with `searchapp roots add PATH`."
            )
        stored = service.library.indexing_model(model_spec(model, pretrained, model_config))
        service.check_vector_backend(stored)
        options = WatchOptions(settle_seconds=settle, rescan_seconds=rescan_minutes * 60)
        serve(WatchDaemon(service, stored, options))


@roots_app.command("add")
def roots_add(ctx: typer.Context, paths: PathsArgument) -> None:
    """Add folders to the library; a running `searchapp watch` starts on them within seconds."""
    with open_service(ctx) as service:
        for path in paths:
            root, added = service.add_root(path)
            typer.echo(f"{'added' if added else 'already a root'}: {root}")


@roots_app.command("remove")
def roots_remove(ctx: typer.Context, paths: PathsArgument) -> None:
    """Remove folders from the library, and forget the photos indexed under them."""
    with open_service(ctx) as service:
        for path in paths:
            root, forgotten = service.remove_root(path)
            if forgotten is None:
                typer.echo(f"not a root: {root}")
            else:
                typer.echo(f"removed: {root} ({forgotten} indexed files forgotten)")


@roots_app.command("list")
def roots_list(ctx: typer.Context, as_json: JsonObjectOption = False) -> None:
    """The library roots and the ignore patterns."""
    with open_service(ctx) as service:
        roots, patterns = service.roots()
    if as_json:
        print_json({"roots": roots, "ignore_patterns": patterns})
        return
    for root in roots:
        typer.echo(f"root: {root}")
    typer.echo(f"ignored: {'  '.join(patterns)}")


@roots_app.command("ignore")
def roots_ignore(ctx: typer.Context, patterns: PatternsArgument) -> None:
    """Keep matching files and folders out of the library (those indexed are forgotten)."""
    with open_service(ctx) as service:
        for pattern in patterns:
            added = service.ignore(pattern)
            typer.echo(f"{'ignoring' if added else 'already ignored'}: {pattern}")


@roots_app.command("unignore")
def roots_unignore(ctx: typer.Context, patterns: PatternsArgument) -> None:
    """Stop ignoring these patterns (exactly as `searchapp roots list` shows them)."""
    with open_service(ctx) as service:
        for pattern in patterns:
            if not service.unignore(pattern):
                typer.echo(f"not an ignore pattern: {pattern}")


def echo_indexer_report(report: dict[str, Any]) -> None:
    typer.echo(f"roots: {', '.join(report['roots']) or '(none; see `searchapp roots add`)'}")
    if "pid" not in report:
        typer.echo("indexer: never run (`searchapp watch`)")
        return
    where = f"pid {report['pid']} on {report['host']}"
    if not report["running"]:
        typer.echo(f"indexer: not running (last seen {report['updated_at']}, {where})")
    else:
        typer.echo(
            f"indexer: {report['state']} ({where}), queue {report['queue_length']}, "
            f"{report['rate']} images/s; since {report['started_at']}: {report['indexed']} "
            f"indexed, {report['removed']} removed, {report['failed']} failed"
        )
    scan = report["last_full_scan_at"]
    if scan:
        typer.echo(f"indexer last full scan: {scan} ({report['last_full_scan_seconds']} s)")
    for error in report["recent_errors"][:10]:
        typer.echo(f"indexer error: {error['at']} {error['path'] or ''}: {error['reason']}")
