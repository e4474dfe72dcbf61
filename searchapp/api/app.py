"""The app factory: routes, error handlers, the token check and the upload limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

import searchapp
from searchapp.api import routes_images, routes_library, routes_search, routes_vlm
from searchapp.api.auth import TokenCheck, bearer
from searchapp.api.body_limit import BodyLimit
from searchapp.api.errors import install_error_handlers
from searchapp.api.inline import RequestsInFlight
from searchapp.service import LibraryService

MULTIPART_SLACK = 64 * 1024
WORKER_THREADS = 8
"""Requests served at once (the rest wait in the event loop): on a few cores, more threads only
contend for the GIL and the store's connection pool (5 kept open)."""


@asynccontextmanager
async def _worker_threads(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


def create_app(service: LibraryService) -> FastAPI:
    """An app serving `service`; the token and the upload limit come from its settings."""
    settings = service.settings
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app = FastAPI(
        title="searchapp",
        version=searchapp.__version__,
        summary="Semantic search over a photo library.",
        lifespan=_worker_threads,
    )
    app.state.service = service
    app.state.requests_in_flight = 0
    service.library.enable_background_index_builds()  # a server lives long: build beside it
    install_error_handlers(app)
    guarded = [Depends(bearer), Depends(TokenCheck(token))]
    app.include_router(routes_library.health_router)
    for module in (routes_search, routes_vlm, routes_images, routes_library):
        app.include_router(module.router, dependencies=guarded)
    megabytes = settings.max_upload_megabytes
    app.add_middleware(
        BodyLimit,
        max_bytes=int(megabytes * 1e6) + MULTIPART_SLACK,
        what=f"The request is over the {megabytes:g} MB upload limit "
        "(SEARCHAPP_MAX_UPLOAD_MEGABYTES).",
    )
    app.add_middleware(RequestsInFlight)
    return app
