"""`searchapp watch` (the background indexer), `searchapp roots ...`, and the indexer's part of
`searchapp status`."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from searchapp.cli.options import (
    JsonOption,
    ModelConfigOption,
    ModelOption,
    PretrainedOption,
    model_spec,
    open_library,
    settings_of,
)
from searchapp.cli.output import print_json
from searchapp.errors import NoRootsError

if TYPE_CHECKING:
    from searchapp.store import Store

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
    from indexer.roots import normalise_root
    from searchapp.library import Library
    from searchapp.writer_lock import WriterLock

    if logging.getLogger().level > logging.WARNING:  # the operator sees warnings from any part
        logging.getLogger().setLevel(logging.WARNING)
    for ours in ("indexer", "searchapp"):  # progress (one line per batch) only from ours
        logging.getLogger(ours).setLevel(logging.WARNING if quiet else logging.INFO)
    settings = settings_of(ctx)
    updates = {"batch_size": batch_size, "decode_workers": workers}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    new_roots = [normalise_root(str(path)) for path in paths or []]
    with WriterLock(settings.data_dir, "searchapp watch"):
        library = Library(settings)
        try:
            for root in new_roots:
                library.store.roots.add(root)
            if not library.store.roots.paths():
                raise NoRootsError(
                    "No folders to watch yet. Give one (`searchapp watch ~/Pictures`) or add it "
                    "with `searchapp roots add PATH`."
                )
            stored = library.indexing_model(model_spec(model, pretrained, model_config))
            options = WatchOptions(settle_seconds=settle, rescan_seconds=rescan_minutes * 60)
            serve(WatchDaemon(library, stored, options))
        finally:
            library.close()


@roots_app.command("add")
def roots_add(ctx: typer.Context, paths: PathsArgument) -> None:
    """Add folders to the library; a running `searchapp watch` starts on them within seconds."""
    from indexer.roots import normalise_root

    roots = [normalise_root(str(path)) for path in paths]
    library = open_library(ctx)
    try:
        for root in roots:
            added = library.store.roots.add(root)
            typer.echo(f"{'added' if added else 'already a root'}: {root}")
    finally:
        library.close()


@roots_app.command("remove")
def roots_remove(ctx: typer.Context, paths: PathsArgument) -> None:
    """Remove folders from the library, and forget the photos indexed under them."""
    import os

    from indexer.roots import forget_root

    library = open_library(ctx)
    try:
        for path in paths:
            root = os.path.abspath(os.path.expanduser(str(path)))
            if not library.store.roots.remove(root):
                typer.echo(f"not a root: {root}")
                continue
            forgotten = forget_root(library.store, root, library.store.roots.paths())
            typer.echo(f"removed: {root} ({forgotten} indexed files forgotten)")
    finally:
        library.close()


@roots_app.command("list")
def roots_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The library roots and the ignore patterns."""
    library = open_library(ctx)
    try:
        roots = library.store.roots.paths()
        patterns = library.store.roots.ignore_patterns()
    finally:
        library.close()
    if as_json:
        print_json({"roots": roots, "ignore_patterns": patterns})
        return
    for root in roots:
        typer.echo(f"root: {root}")
    typer.echo(f"ignored: {'  '.join(patterns)}")


@roots_app.command("ignore")
def roots_ignore(ctx: typer.Context, patterns: PatternsArgument) -> None:
    """Keep matching files and folders out of the library (those indexed are forgotten)."""
    library = open_library(ctx)
    try:
        for pattern in patterns:
            added = library.store.roots.add_ignore_pattern(pattern)
            typer.echo(f"{'ignoring' if added else 'already ignored'}: {pattern}")
    finally:
        library.close()


@roots_app.command("unignore")
def roots_unignore(ctx: typer.Context, patterns: PatternsArgument) -> None:
    """Stop ignoring these patterns (exactly as `searchapp roots list` shows them)."""
    library = open_library(ctx)
    try:
        for pattern in patterns:
            if not library.store.roots.remove_ignore_pattern(pattern):
                typer.echo(f"not an ignore pattern: {pattern}")
    finally:
        library.close()


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch).isoformat(timespec="seconds")


def indexer_report(store: Store) -> dict[str, Any]:
    """The background indexer's status for `searchapp status` (and its JSON)."""
    status = store.indexer_status.read()
    report: dict[str, Any] = {"roots": store.roots.paths(), "running": False, "state": "never run"}
    if status is None:
        return report
    running = status.running(time.time())
    report.update(
        running=running,
        state=status.state if running else "stopped",
        last_state=status.state,
        pid=status.pid,
        host=status.host,
        started_at=_when(status.started_at),
        updated_at=_when(status.updated_at),
        queue_length=status.queue_length,
        rate=status.rate,
        indexed=status.indexed,
        removed=status.removed,
        failed=status.failed,
        last_full_scan_at=_when(status.last_full_scan_at),
        last_full_scan_seconds=status.last_full_scan_seconds,
        message=status.message,
        recent_errors=[
            {"at": _when(e.at), "path": e.path, "reason": e.reason}
            for e in store.indexer_status.recent_errors()
        ],
    )
    return report


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
