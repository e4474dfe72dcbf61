"""`searchapp serve`: the HTTP API (searchapp.api) for this library."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import SecretStr

from searchapp.cli.options import settings_of
from searchapp.cli.output import console


def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(help="Address to listen on; any but loopback needs a token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SEARCHAPP_API_TOKEN",
            help="Require `Authorization: Bearer TOKEN` on every route but /health.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the library over HTTP (JSON API; schema at /openapi.json, docs at /docs)."""
    from searchapp.api.server import check_bind
    from searchapp.api.server import serve as run_server
    from searchapp.service import LibraryService

    check_bind(host, token)
    settings = settings_of(ctx)
    if token:
        settings = settings.model_copy(update={"api_token": SecretStr(token)})
    with LibraryService(settings) as service:
        service.check_vector_backend()
        shown = f"[{host}]" if ":" in host else host
        console.print(
            f"Serving {settings.data_dir} on http://{shown}:{port} (Ctrl-C stops)",
            highlight=False,
        )
        run_server(service, host, port)
