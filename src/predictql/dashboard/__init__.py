"""``/dashboard`` (issue 15 point 6): a live reference page served by predictql, with no build step.

``/dashboard`` answers the HTML page; ``/dashboard/static/`` serves hand-written ES modules and the
vendored ``graphql-ws`` client (``static/vendor/``, re-vendored by ``vendor-src/revendor`` from its
pinned package-lock.json). Everything the page shows comes from the public GraphQL API: queries for
the initial data, subscriptions (resumed with ``fromSeq``) for what follows.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


async def page(request: Request) -> Response:
    """The single page: the board, a market (``#/market/<id>``) and the operator page (``#/operator``)."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard", page, methods=["GET", "HEAD"]),
        Mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]
