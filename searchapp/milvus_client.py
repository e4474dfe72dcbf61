"""Connecting to Milvus (`SEARCHAPP_MILVUS_URI`): a milvus-lite file (embedded, one process at a
time) or a Milvus server URI. Every failure to connect becomes one `VectorBackendError` line
saying what failed, where, and what to do; pymilvus is imported only here and in the backend."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchapp.errors import VectorBackendError

if TYPE_CHECKING:
    from searchapp.config import Settings

log = logging.getLogger(__name__)
SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")
INSTALL_HINT = "pip install 'searchapp[scale]' (pymilvus and milvus-lite)"


def is_local(uri: str) -> bool:
    """A milvus-lite file rather than a server."""
    return not uri.startswith(SERVER_SCHEMES)


def milvus_uri(settings: Settings) -> str:
    """The configured URI; by default a milvus-lite file in the data directory."""
    uri = settings.milvus_uri or str(settings.data_dir / "milvus.db")
    return str(Path(uri).expanduser().absolute()) if is_local(uri) else uri


def describe_failure(exc: BaseException) -> str:
    message = str(getattr(exc, "message", "") or exc or type(exc).__name__)
    return message.strip().splitlines()[0][:200] if message.strip() else type(exc).__name__


def _served_here(path: Path) -> bool:
    """This process already serves the file (milvus-lite reuses its server per path)."""
    from milvus_lite.server_manager import server_manager_instance

    return str(path) in getattr(server_manager_instance, "_servers", {})


def _check_local_file(uri: str) -> None:
    if not uri.endswith(".db"):
        raise VectorBackendError(
            f"SEARCHAPP_MILVUS_URI={uri} is neither a server URI (http://HOST:19530) nor a "
            "milvus-lite file (a path ending in .db); set it to one of them."
        )
    try:
        import milvus_lite  # noqa: F401
    except ImportError:
        raise VectorBackendError(
            f"A local Milvus file ({uri}) needs milvus-lite, which is not installed: "
            f"{INSTALL_HINT}, or set SEARCHAPP_MILVUS_URI to a Milvus server."
        ) from None
    path = Path(uri)
    if _served_here(path):
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock_path = path / "LOCK"
        with open(lock_path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
            except BlockingIOError:
                raise VectorBackendError(
                    f"The milvus-lite file {uri} is open in another process (milvus-lite "
                    "serves one process at a time). Stop that process, or run a Milvus server "
                    "and set SEARCHAPP_MILVUS_URI=http://HOST:19530 for several processes."
                ) from None
    except OSError as exc:
        raise VectorBackendError(
            f"Cannot open the milvus-lite file {uri}: {exc.strerror or exc}. Choose a writable "
            "place with SEARCHAPP_MILVUS_URI."
        ) from None


def connect(settings: Settings) -> Any:
    """A `MilvusClient` that has answered one request."""
    uri = milvus_uri(settings)
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise VectorBackendError(
            f"SEARCHAPP_VECTOR_BACKEND=milvus needs pymilvus, which is not installed: "
            f"{INSTALL_HINT}; or set SEARCHAPP_VECTOR_BACKEND=faiss."
        ) from None
    local = is_local(uri)
    if local:
        _check_local_file(uri)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    timeout = settings.milvus_timeout_seconds
    try:
        client = MilvusClient(uri=uri, token=token, timeout=timeout)
        client.list_collections(timeout=timeout)
    except Exception as exc:
        reason = describe_failure(exc)
        if local:
            raise VectorBackendError(
                f"Cannot open the milvus-lite file {uri} ({reason}). Check the path, or "
                "delete it to rebuild it from the library."
            ) from None
        raise VectorBackendError(
            f"Cannot reach Milvus at {uri} ({reason}). Start the Milvus server, or set "
            "SEARCHAPP_MILVUS_URI to a reachable server or a local milvus-lite file "
            "(a path ending in .db)."
        ) from None
    log.info("connected to Milvus at %s", uri)
    return client


def release(client: Any, uri: str) -> None:
    """Close the client and, for a milvus-lite file, stop its in-process server (and lock)."""
    with contextlib.suppress(Exception):
        client.close()
    if is_local(uri):
        with contextlib.suppress(ImportError):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)
