"""`searchapp serve`: the API on uvicorn, on loopback unless a token guards it."""

from __future__ import annotations

import ipaddress
import logging

from searchapp.errors import SearchAppError
from searchapp.service import LibraryService

log = logging.getLogger(__name__)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise SearchAppError(
            f"Refusing to listen on {host} without a token: anyone who can reach it could read "
            "your photos. Give --token (or SEARCHAPP_API_TOKEN), or listen on 127.0.0.1."
        )


def serve(service: LibraryService, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    import uvicorn

    from searchapp.api.app import create_app

    token = service.settings.api_token
    check_bind(host, token.get_secret_value() if token else None)
    config = uvicorn.Config(create_app(service), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    log.info("serving %s on http://%s:%d", service.settings.data_dir, host, port)
    server.run()
