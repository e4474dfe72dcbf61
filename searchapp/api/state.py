"""The service an app serves, kept on `app.state`."""

from __future__ import annotations

from fastapi import Request

from searchapp.service import LibraryService


def service_of(request: Request) -> LibraryService:
    service: LibraryService = request.app.state.service
    return service
