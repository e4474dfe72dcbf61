"""The Streamlit UI: a thin client of the application layer (`searchapp.service`), run in-process
by Streamlit. `serve` starts it on a data directory (`searchapp ui`, `searchapp demo`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501


def streamlit_command(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]


def ui_environment(data_dir: Path | None) -> dict[str, str]:
    """The environment of the Streamlit process: this installation's code first on the path
    (so the UI runs the same searchapp as the command that started it) and the data dir."""
    env = dict(os.environ)
    source_root = str(APP.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    if data_dir is not None:
        env["SEARCHAPP_DATA_DIR"] = str(data_dir)
    return env


def serve(data_dir: Path | None = None, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Become the Streamlit server (this process is replaced, so a signal sent to it, Ctrl+C or
    a service manager's SIGTERM, stops the server itself and nothing is left running)."""
    print(f"searchapp UI: http://{host}:{port}  (Ctrl+C stops it)", flush=True)
    command = streamlit_command(host, port)
    os.execve(command[0], command, ui_environment(data_dir))
