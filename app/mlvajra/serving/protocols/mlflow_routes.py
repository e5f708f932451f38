"""MLflow scoring protocol routes: `GET /ping` and `POST /invocations`, over `MlflowCodec`."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlvajra.errors import NotReadyError
from mlvajra.serving.calls import answer_in_fastapi
from mlvajra.serving.protocols.mlflow import MlflowCodec
from mlvajra.serving.protocols.scoring import answer_invocations
from mlvajra.serving.state import service_state

router = APIRouter(tags=["MLflow scoring protocol"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": 'Bad input: {"error_code": "BAD_REQUEST", "message", "details", ...}'},
    413: {"description": "Too many records or body too large"},
    415: {"description": "Not application/json, text/csv or application/csv"},
    503: {"description": "Model not loaded yet, or draining"},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "exactly one of dataframe_split, dataframe_records, "
                    "instances, inputs; optional empty params",
                }
            },
            "text/csv": {"schema": {"type": "string"}, "description": "a header row, then rows"},
        },
    }
}


@router.get("/ping", responses={503: _ERRORS[503]})
async def mlflow_ping(request: Request) -> Response:
    """Readiness in MLflow's and SageMaker's terms: 200 once the model is loaded and warmed up."""
    state = service_state(request)
    if state.draining:
        raise NotReadyError("draining: this worker is shutting down")
    state.loaded_codec()
    return Response(b'{"status":"ready"}', media_type="application/json")


@router.post("/invocations", responses=_ERRORS, openapi_extra=_BODY)
async def mlflow_invocations(request: Request) -> Response:
    """Score a DataFrame (split or records), instances/inputs, or CSV: `{"predictions": [...]}`."""
    codec: MlflowCodec = request.app.state.mlflow
    return await answer_in_fastapi(partial(answer_invocations, codec), request)
