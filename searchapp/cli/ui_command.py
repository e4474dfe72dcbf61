"""`searchapp ui`: the Streamlit UI (in `ui/`) on this data directory."""

from __future__ import annotations

from typing import Annotated

import typer

from searchapp.cli.options import settings_of
from searchapp.errors import SearchAppError


def ui(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: reachable from other machines).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8501,
) -> None:
    """Open the web UI: search, browse, tag and inspect the library in a browser."""
    try:
        import ui as ui_package
    except ImportError:
        raise SearchAppError(
            "This installation has no UI (the ui package is missing); reinstall searchapp."
        ) from None
    ui_package.serve(settings_of(ctx).data_dir, host, port)


def register(app: typer.Typer) -> None:
    app.command()(ui)
