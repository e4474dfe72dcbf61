"""The HTTP API: FastAPI routes that parse a request, call the `LibraryService` and render its
records as JSON. `create_app(service)` builds the app; `searchapp serve` runs it with uvicorn."""

from searchapp.api.app import create_app

__all__ = ["create_app"]
