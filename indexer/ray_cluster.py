"""Connecting to a Ray cluster, or starting a local one, for `searchapp index --ray [ADDRESS]`.

Ray is imported only here and in `indexer.ray_runner`, inside functions: the base install
never needs it. An address that cannot be reached is one line before anything starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from searchapp.errors import SearchAppError

log = logging.getLogger(__name__)
LOCAL = "local"
PROBE_SECONDS = 3.0
RAY_CLIENT_PORT = 10001
GCS_PORT = 6379
WHAT_TO_DO = (
    "Start the cluster (`ray start --head` on its head node), or check the address: "
    "`--ray ray://HEAD:10001` (Ray client), `--ray HEAD:6379`, or `--ray auto` on a node of "
    "the cluster; `--ray` alone starts a local Ray."
)


class RayUnavailableError(SearchAppError):
    """Ray is not installed, or the cluster given cannot be reached."""


class RayJobError(SearchAppError):
    """The distributed job stopped; what was written stays, and a rerun does the rest."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "Ray is not installed; `pip install 'searchapp[scale]'` (or `pip install "
            "'ray[data]'`) to index with --ray."
        ) from None
    module: ModuleType = ray
    return module


def _host_port(address: str) -> tuple[str, int] | None:
    """Where a TCP probe can check the address (None for `auto`, which Ray resolves)."""
    if address == "auto":
        return None
    bare = address.removeprefix("ray://")
    default = RAY_CLIENT_PORT if address.startswith("ray://") else GCS_PORT
    host, _, port = bare.rpartition(":")
    if not host:
        return bare, default
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise RayUnavailableError(
            f"{address!r} is not a Ray address (HOST:PORT, ray://HOST:PORT or auto)."
        ) from None


def check_reachable(address: str | None) -> None:
    """One clear line now when the cluster at `address` does not answer; nothing for a local
    Ray (None or "local"), which is started when the job needs it."""
    import_ray()
    if address in (None, LOCAL):
        return
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {PROBE_SECONDS:.0f} s"
        raise RayUnavailableError(
            f"Cannot reach the Ray cluster at {address} ({reason}). {WHAT_TO_DO}"
        ) from None


def _code_path() -> str:
    """The folder holding this installation's `searchapp` and `indexer`, first on the workers'
    path, so a local Ray's workers run the same code as the command."""
    root = str(Path(__file__).resolve().parent.parent)
    earlier = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{earlier}" if earlier else root


def local_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[ModuleType]:
    """Ray, connected: the session this process already holds (kept open), else a new local
    Ray on this machine's cores or a connection to `address` (closed at the end)."""
    ray = import_ray()
    if ray.is_initialized():
        configure_data_context()
        yield ray
        return
    options: dict[str, object] = {
        "logging_level": logging.INFO if log.isEnabledFor(logging.INFO) else logging.ERROR,
        "log_to_driver": False,
        "runtime_env": {"env_vars": {"PYTHONPATH": _code_path()}},
    }
    try:
        if address in (None, LOCAL):
            ray.init(num_cpus=local_cpus(), include_dashboard=False, **options)
        else:
            ray.init(address=address, **{k: v for k, v in options.items() if k != "runtime_env"})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "start a local Ray" if address in (None, LOCAL) else f"connect to {address}"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailableError(f"Cannot {where}: {first}. {WHAT_TO_DO}") from None
    try:
        configure_data_context()
        yield ray
    finally:
        ray.shutdown()


def configure_data_context() -> None:
    """Ray Data without its own progress bars and banners: the command reports progress."""
    import ray.data

    if not log.isEnabledFor(logging.INFO):  # a failed job is reported in one line instead
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_operator_progress_bars = False
