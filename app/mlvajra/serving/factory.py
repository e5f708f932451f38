"""`create_app(settings)`: lifespan, routes, error handlers, the fast scoring routes."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from types import FrameType
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from mlvajra.artifact import file_for
from mlvajra.config import Settings
from mlvajra.errors import ArtifactError
from mlvajra.folder import read_manifest
from mlvajra.inputs import build_record_type, neutral_record
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.monitoring.export import Exporter, flush_every
from mlvajra.monitoring.feedback import FeedbackStore
from mlvajra.monitoring.prediction_log import PredictionLog
from mlvajra.predictor import Predictor
from mlvajra.runners import build_runner, load_runner
from mlvajra.serving.asgi import ServiceApp, access_log
from mlvajra.serving.calls import Handler
from mlvajra.serving.codec import PredictCodec, build_request_type
from mlvajra.serving.docs import install_docs
from mlvajra.serving.handlers import install_error_handlers
from mlvajra.serving.handoff import handed_over
from mlvajra.serving.metrics import MODEL_INFO
from mlvajra.serving.monitoring_routes import router as monitoring_router
from mlvajra.serving.protocols.mlflow import MlflowCodec
from mlvajra.serving.protocols.mlflow import render_error as render_mlflow_error
from mlvajra.serving.protocols.mlflow_routes import answer_invocations
from mlvajra.serving.protocols.mlflow_routes import router as mlflow_router
from mlvajra.serving.protocols.v2_json import V2Codec
from mlvajra.serving.protocols.v2_json import render_error as render_v2_error
from mlvajra.serving.protocols.v2_routes import answer_infer, infer_template
from mlvajra.serving.protocols.v2_routes import router as v2_router
from mlvajra.serving.routes import answer_predict, router
from mlvajra.serving.state import ServiceState

logger = logging.getLogger("mlvajra")


def create_app(settings: Settings | None = None) -> ServiceApp:
    """Build the service for the artifact in `settings.model_dir` (read now, loaded in lifespan)."""
    settings = settings or Settings()
    # Under gunicorn, what the master verified before forking; else the folder, read now.
    verified = handed_over(settings.model_dir)
    manifest = verified.manifest if verified else read_manifest(settings.model_dir)
    model_format = verified.model_format if verified else settings.model_format or manifest.format
    if file_for(model_format) not in manifest.files:
        raise ArtifactError(f"{settings.model_dir} has no {model_format} model in its manifest")
    state = ServiceState(
        settings=settings,
        manifest=manifest,
        model_format=model_format,
        body_limit=settings.body_limit_for(manifest.inputs),
        feedback=(
            FeedbackStore(settings.state_dir / f"{manifest.name}.feedback.sqlite")
            if settings.state_dir is not None
            else None
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Here, in each worker after the fork: onnxruntime sessions must not cross a fork.
        runner = (
            build_runner(verified.model, manifest, model_format, settings.threads, verified.code)
            if verified
            else load_runner(settings.model_dir, manifest, model_format, settings.threads)
        )
        reference = manifest.reference if settings.monitoring else None
        live = LiveCounts(reference) if reference is not None else None
        log = (
            PredictionLog(
                state.feedback, manifest.version, settings.prediction_log_sample,
                settings.monitoring_flush_seconds,
            )
            if state.feedback is not None and settings.prediction_log_sample > 0
            else None
        )  # fmt: skip
        codec = PredictCodec(Predictor(manifest, runner), settings.max_instances, live, log)
        codec.warm_up()
        if log is not None:
            log.start()
        exporter = Exporter(live, manifest) if live is not None else None
        flusher = asyncio.create_task(
            flush_every(partial(_flush, state), settings.monitoring_flush_seconds)
        )
        MODEL_INFO.labels(
            manifest.name, manifest.version, model_format, manifest.sha256(model_format)
        ).set(1)
        state.exporter = exporter
        state.codec = codec
        _drain_on_sigterm(state)
        logger.info("model %s/%s (%s) ready", manifest.name, manifest.version, model_format)
        yield
        state.draining = True
        flusher.cancel()
        _flush(state)
        if log is not None:
            log.close()  # the batch still pending, written before the worker ends
        # The worker is about to end by its re-raised SIGTERM, without atexit: write the access
        # log lines still batched (mlvajra.logs.BatchedStderrHandler) now.
        for handler in access_log.handlers:
            handler.flush()

    app = FastAPI(
        title=f"mlvajra: {manifest.name}",
        version=manifest.version,
        description=f"Serves {manifest.name} version {manifest.version} ({manifest.task}).",
        lifespan=lifespan,
        docs_url=None,  # mlvajra.serving.docs: the same page, its assets served from here
        openapi_url="/openapi.json" if settings.docs else None,
        redoc_url=None,
        # No 307 from /health/ to /health: its Location would repeat whatever Host was sent.
        redirect_slashes=False,
    )
    app.state.service = state
    app.state.expose_errors = settings.expose_errors
    app.include_router(router)
    app.include_router(monitoring_router)
    app.include_router(v2_router)
    app.include_router(mlflow_router)
    app.state.v2 = V2Codec(manifest, model_format, settings.max_instances, settings.model_name)
    app.state.mlflow = MlflowCodec(manifest, settings.max_instances)
    app.state.error_shapes = [
        ("/v2", render_v2_error),
        ("/invocations", render_mlflow_error),
        ("/ping", render_mlflow_error),
    ]
    install_error_handlers(app)
    if settings.docs:
        install_docs(app, app.title)
    request_type = build_request_type(build_record_type(manifest.inputs), settings.max_instances)
    example = manifest.input_example or neutral_record(manifest.inputs)
    _document_request_body(app, TypeAdapter(request_type), {"instances": [example]})
    scoring: dict[str, Handler] = {
        "/predict": answer_predict,
        "/invocations": partial(answer_invocations, app.state.mlflow),
    }
    templated = [(infer_template, partial(answer_infer, app.state.v2))]
    return ServiceApp(app, state, scoring, templated, app.state.error_shapes)


def _flush(state: ServiceState) -> None:
    """This worker's in-memory counts (requests, drift) into the multiprocess metric files."""
    state.tally.flush()
    if state.exporter is not None:
        state.exporter.flush()


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


def _drain_on_sigterm(state: ServiceState) -> None:
    """Mark the worker as draining (/ready -> 503) before the server's own SIGTERM handling.

    The server's handler (uvicorn's, installed before the lifespan runs) closes the listening
    socket; with `drain_seconds` it runs that much later, while the worker keeps serving.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # in-process test clients run the app off the main thread; no signals there
    previous = signal.getsignal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    delay = state.settings.drain_seconds

    def handle(signum: int, frame: FrameType | None) -> None:
        state.draining = True
        if not callable(previous):
            return
        if delay:
            # A signal handler must not touch the loop's timers directly: hand over thread-safely.
            loop.call_soon_threadsafe(loop.call_later, delay, previous, signum, None)
        else:
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handle)
