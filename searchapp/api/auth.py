"""Bearer-token access: with a token configured, every route but /health needs
`Authorization: Bearer TOKEN`, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer

bearer = HTTPBearer(  # documents the scheme in OpenAPI; TokenCheck checks
    auto_error=False, description="The server's --token / SEARCHAPP_API_TOKEN."
)


class TokenCheck:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode("utf-8") if token else None

    async def __call__(self, request: Request) -> None:
        """Async: a check this cheap should not cost a trip through the thread pool."""
        if self._token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(
                401,
                "This server needs a token: send `Authorization: Bearer TOKEN`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            raise HTTPException(401, "The token is wrong.", headers={"WWW-Authenticate": "Bearer"})
