"""`create_app(settings)`: lifespan, the fast scoring routes, and the FastAPI app on first use."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from types import FrameType

from starlette.datastructures import State
from starlette.types import ASGIApp

from mlvajra.artifact import file_for
from mlvajra.config import Settings
from mlvajra.errors import ArtifactError
from mlvajra.folder import read_manifest
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.monitoring.export import Exporter, flush_every
from mlvajra.monitoring.feedback import FeedbackStore
from mlvajra.monitoring.prediction_log import PredictionLog
from mlvajra.predictor import Predictor
from mlvajra.runners import build_runner, load_runner
from mlvajra.serving.asgi import ServiceApp, access_log
from mlvajra.serving.calls import Handler
from mlvajra.serving.codec import PredictCodec
from mlvajra.serving.handoff import handed_over
from mlvajra.serving.metrics import MODEL_INFO
from mlvajra.serving.protocols.mlflow import MlflowCodec
from mlvajra.serving.protocols.mlflow import render_error as render_mlflow_error
from mlvajra.serving.protocols.records import RecordRules
from mlvajra.serving.protocols.scoring import answer_infer, answer_invocations, infer_template
from mlvajra.serving.protocols.v2_json import V2Codec
from mlvajra.serving.protocols.v2_json import render_error as render_v2_error
from mlvajra.serving.scoring import answer_predict
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
    async def lifespan() -> AsyncIterator[None]:
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
                settings.monitoring_flush_seconds, inputs=manifest.inputs,
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

    shared = State()  # what every route reads, the FastAPI app's `state` once it is built
    shared.service = state
    shared.expose_errors = settings.expose_errors
    rules = RecordRules(manifest, settings.max_instances)  # its validators are built once
    shared.v2 = V2Codec(manifest, model_format, rules, settings.model_name)
    shared.mlflow = MlflowCodec(manifest, rules)
    shared.error_shapes = [
        ("/v2", render_v2_error),
        ("/invocations", render_mlflow_error),
        ("/ping", render_mlflow_error),
    ]

    def build_api() -> ASGIApp:
        # Imported here, not at the top: FastAPI's import is most of a worker's start.
        from mlvajra.serving.api import build_api

        return build_api(shared, settings, manifest)

    scoring: dict[str, Handler] = {
        "/predict": answer_predict,
        "/invocations": partial(answer_invocations, shared.mlflow),
    }
    templated = [(infer_template, partial(answer_infer, shared.v2))]
    return ServiceApp(build_api, shared, lifespan, scoring, templated, shared.error_shapes)


def _flush(state: ServiceState) -> None:
    """This worker's in-memory counts (requests, drift) into the multiprocess metric files."""
    state.tally.flush()
    if state.exporter is not None:
        state.exporter.flush()


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
