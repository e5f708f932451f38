"""`/docs` that works without internet: Swagger UI's assets served from the installation.

FastAPI's default page loads Swagger UI from a CDN, so it was blank on a network without one. The
assets come from the `fastapi-offline` package (Swagger UI 5, which renders OpenAPI 3.1), served
here at `/docs/assets/<name>` (FastAPI's "self-hosting" recipe). ReDoc is off.
"""

from __future__ import annotations

import importlib.resources
from functools import cache

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from mlvajra.errors import NotFoundError

ASSETS_URL = "/docs/assets"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
"""The only files served: name -> content type."""


@cache
def asset_bytes(name: str) -> bytes:
    """One asset as shipped by `fastapi-offline`, read once per worker."""
    return (importlib.resources.files("fastapi_offline") / "static" / name).read_bytes()


def install_docs(app: FastAPI, title: str) -> None:
    """Add `/docs` and its assets to `app` (only when docs are on)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # No badge from validator.swagger.io: the page must not reach out.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            raise NotFoundError(f"no docs asset {name!r}")
        return Response(
            asset_bytes(name),
            media_type=ASSETS[name],
            headers={"Cache-Control": "public, max-age=86400"},
        )
