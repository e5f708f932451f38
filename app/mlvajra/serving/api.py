"""`build_api`: the FastAPI app behind `ServiceApp`: docs, OpenAPI, probes, metadata, feedback.

Each worker builds it on the first request that is not a scoring call (`ServiceApp.api`), so
that FastAPI, its OpenAPI models and the generated request schema cost nothing at start.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter
from starlette.datastructures import State

from mlvajra.artifact import Manifest
from mlvajra.config import Settings
from mlvajra.inputs import build_record_type, neutral_record
from mlvajra.serving.codec import build_request_type
from mlvajra.serving.docs import install_docs
from mlvajra.serving.handlers import install_error_handlers
from mlvajra.serving.monitoring_routes import router as monitoring_router
from mlvajra.serving.protocols.mlflow_routes import router as mlflow_router
from mlvajra.serving.protocols.v2_routes import router as v2_router
from mlvajra.serving.routes import router


def build_api(state: State, settings: Settings, manifest: Manifest) -> FastAPI:
    """The FastAPI app for `manifest`, its routes reading `state` (the worker's, shared)."""
    app = FastAPI(
        title=f"mlvajra: {manifest.name}",
        version=manifest.version,
        description=f"Serves {manifest.name} version {manifest.version} ({manifest.task}).",
        docs_url=None,  # mlvajra.serving.docs: the same page, its assets served from here
        openapi_url="/openapi.json" if settings.docs else None,
        redoc_url=None,
        # No 307 from /health/ to /health: its Location would repeat whatever Host was sent.
        redirect_slashes=False,
    )
    app.state = state
    app.include_router(router)
    app.include_router(monitoring_router)
    app.include_router(v2_router)
    app.include_router(mlflow_router)
    install_error_handlers(app)
    if settings.docs:
        install_docs(app, app.title)
    request_type = build_request_type(build_record_type(manifest.inputs), settings.max_instances)
    example = manifest.input_example or neutral_record(manifest.inputs)
    _document_request_body(app, TypeAdapter(request_type), {"instances": [example]})
    return app


def _document_request_body(
    app: FastAPI, request_adapter: TypeAdapter[Any], example: dict[str, Any]
) -> None:
    """Put the generated PredictRequest (the model's real fields) into the OpenAPI schema, with
    `example` (a training record) as the body /docs offers, not values made up from the types."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            body = request_adapter.json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(body.pop("$defs", {}))
            components["PredictRequest"] = body
            request_body = schema["paths"]["/predict"]["post"]["requestBody"]
            request_body["content"]["application/json"]["example"] = example
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
