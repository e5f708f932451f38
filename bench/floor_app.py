"""The floor: the smallest FastAPI + onnxruntime service on the same artifact, for comparison.

JSON records in, JSON predictions out, nothing else: no validation, no metrics, no request ids.
Run it as `gunicorn -k uvicorn_worker.UvicornWorker -w 2 bench.floor_app:app` with
FLOOR_MODEL_DIR set to an artifact folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import orjson
from fastapi import FastAPI, Request, Response

MODEL_DIR = Path(os.environ.get("FLOOR_MODEL_DIR", "models/penguins/1"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    state["session"] = onnxruntime.InferenceSession(
        str(MODEL_DIR / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
    )
    state["inputs"] = [(i["name"], i["type"] == "string") for i in manifest["inputs"]]
    state["classes"] = manifest["classes"]
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/predict")
async def predict(request: Request) -> Response:
    records = orjson.loads(await request.body())["instances"]
    feeds = {}
    for name, is_text in state["inputs"]:
        values = [record[name] for record in records]
        if is_text:
            feeds[name] = np.array(
                ["__missing__" if v is None else v for v in values], dtype=object
            ).reshape(-1, 1)
        else:
            feeds[name] = np.array(values, dtype=np.float32).reshape(-1, 1)
    labels, probabilities = state["session"].run(None, feeds)
    classes = state["classes"]
    predictions = [
        {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
        for label, row in zip(labels.tolist(), probabilities.tolist(), strict=True)
    ]
    return Response(orjson.dumps({"predictions": predictions}), media_type="application/json")
