"""A request's blocking work (a search) runs on the event loop when that request is alone in
flight (no thread hop), and in the thread pool while another request is being served, so the
server keeps answering others."""

from __future__ import annotations

import asyncio
import threading

import httpx
from fastapi import FastAPI, Request

from searchapp.api.inline import RequestsInFlight, run_blocking


def _app(release: asyncio.Event, entered: asyncio.Event) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestsInFlight)

    @app.get("/work")
    async def work(request: Request) -> dict[str, bool]:
        loop_thread = threading.get_ident()
        ran_on = await run_blocking(request, threading.get_ident)
        return {"on_loop": ran_on == loop_thread}

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        entered.set()
        await release.wait()
        return {"done": True}

    return app


def test_work_runs_on_the_loop_alone_and_in_the_pool_beside_another_request() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        release, entered = asyncio.Event(), asyncio.Event()
        app = _app(release, entered)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            alone = (await client.get("/work")).json()["on_loop"]
            slow = asyncio.create_task(client.get("/slow"))
            await entered.wait()
            beside = (await client.get("/work")).json()["on_loop"]
            release.set()
            assert (await slow).json() == {"done": True}
            after = (await client.get("/work")).json()["on_loop"]
        return alone, beside, after

    alone, beside, after = asyncio.run(scenario())
    assert alone is True
    assert beside is False
    assert after is True
