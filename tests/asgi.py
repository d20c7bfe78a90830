"""Run an ASGI app in-process for tests: its lifespan, and an httpx client bound to it."""

import contextlib

import httpx


@contextlib.asynccontextmanager
async def app_client(app, *, base_url="http://testserver", client=("127.0.0.1", 50000), **kw):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, **kw) as http:
            yield http
