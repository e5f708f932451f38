"""`mlvajra explore`: the owners' page, a FastAPI app of its own on the same uvicorn.

The page is rendered once, every manifest value escaped; results are drawn by a static script
with `textContent` only, and a Content-Security-Policy forbids any other script or network.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response

from mlvajra.artifact import InputSpec, Manifest
from mlvajra.errors import PayloadTooLargeError
from mlvajra.explain.card import Reference, card_facts
from mlvajra.explain.debug import Debugger, Explanation
from mlvajra.explain.html import distribution_plots, document, facts, inputs_table, static_text
from mlvajra.predictor import Predictor
from mlvajra.serving.answers import prediction_objects
from mlvajra.serving.codec import PredictCodec
from mlvajra.serving.handlers import install_error_handlers

MAX_RECORDS = 2
"""One record to explain, or two to compare."""
MAX_BODY_BYTES = 64 * 1024
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_explore_app(debugger: Debugger, reference: Reference) -> FastAPI:
    """The page, its script and style, and POST /explain for one or two records."""
    manifest = debugger.manifest
    codec = PredictCodec(Predictor(manifest, debugger.runner), MAX_RECORDS)
    page = render_page(manifest, debugger, reference).encode()
    script, style = static_text("explore.js").encode(), static_text("style.css").encode()
    app = FastAPI(title=f"explore {manifest.name}", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)

    @app.get("/")
    def index() -> Response:
        """The model card, the form and the results area."""
        return Response(page, media_type="text/html; charset=utf-8", headers=_SECURITY_HEADERS)

    @app.get("/explore.js")
    def explore_script() -> Response:
        """The page's only script."""
        return Response(script, media_type="text/javascript", headers=_SECURITY_HEADERS)

    @app.get("/style.css")
    def explore_style() -> Response:
        """The page's only style sheet."""
        return Response(style, media_type="text/css", headers=_SECURITY_HEADERS)

    @app.post("/explain")
    async def explain(request: Request) -> Response:
        """Step-by-step output and contributions for `{"instances": [one or two records]}`."""
        body = await _bounded_body(request)
        _, columns = codec.decode(body)
        explanation = debugger.explain(columns)
        payload = explanation_json(
            explanation, prediction_objects(explanation.predictions, codec.classes)
        )
        return Response(
            orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
            headers=_SECURITY_HEADERS,
        )

    return app


def explanation_json(explanation: Explanation, predictions: list[Any]) -> dict[str, Any]:
    """What the page's script draws: the predictions, each step's named values, contributions."""
    explained = explanation.contributions
    return {
        "predictions": predictions,
        "steps": [
            {
                "name": step.name,
                "estimator": step.estimator,
                "features": step.features,
                "values": _values(step.values),
            }
            for step in explanation.steps
        ],
        "contributions": {
            "method": explained.method,
            "features": explained.features,
            "values": None if explained.values is None else _values(explained.values),
            "base": None if explained.base is None else _values(explained.base),
            "explains": explained.explains,
        },
    }


def render_page(manifest: Manifest, debugger: Debugger, reference: Reference) -> str:
    """The whole page; the form holds the first two reference rows (A and B)."""
    records = reference.records
    first, second = records[0], records[1 % len(records)]
    note = (
        f"Explained with the artifact's model.joblib ({escape(debugger.estimator)}), unpickled "
        "after its sha256 matched the manifest"
        + (
            "; the service answers with model.onnx, within the parity above."
            if manifest.format == "onnx"
            else "."
        )
    )
    profiles = reference.profiles
    body = (
        f"<header><h1>{escape(manifest.name)} {escape(manifest.version)}</h1>"
        f"<p>{note}</p></header>"
        f'<section id="card"><h2>Model card</h2>{facts(card_facts(manifest))}'
        + (
            f"<h3>Inputs in the {len(records)} reference rows</h3>{inputs_table(profiles)}"
            f"{distribution_plots(profiles)}"
            if profiles
            else ""
        )
        + '</section><section id="try"><h2>Try records</h2>'
        '<form id="records"><table class="form"><thead><tr><th>input</th>'
        "<th>record A</th><th>record B</th></tr></thead><tbody>"
        + "".join(_input_row(spec, first, second) for spec in manifest.inputs)
        + "</tbody></table>"
        '<p><button type="submit" id="explain">Explain A</button> '
        '<button type="button" id="compare">Compare A and B</button></p></form>'
        '<div id="error" role="alert"></div><div id="result"></div></section>'
    )
    head = '<link rel="stylesheet" href="/style.css"><script src="/explore.js" defer></script>'
    return document(f"explore {manifest.name} {manifest.version}", body, head)


def _input_row(spec: InputSpec, first: dict[str, Any], second: dict[str, Any]) -> str:
    label = f"{spec.name} ({spec.type}{', may be empty' if spec.nullable else ''})"
    cells = "".join(
        f"<td>{_field(spec, record.get(spec.name), slot)}</td>"
        for slot, record in (("a", first), ("b", second))
    )
    return f"<tr><th>{escape(label)}</th>{cells}</tr>"


def _field(spec: InputSpec, value: Any, slot: str) -> str:
    """A select for categories and booleans, a number box otherwise; `data-*` tells the script
    how to read it back."""
    name = escape(f"{slot}:{spec.name}", quote=True)
    common = f'name="{name}" data-type="{spec.type}" data-nullable="{str(spec.nullable).lower()}"'
    if spec.type == "boolean" or spec.categories:
        options = ["true", "false"] if spec.type == "boolean" else list(spec.categories or [])
        current = (
            "" if value is None else str(value).lower() if spec.type == "boolean" else str(value)
        )
        choices = [("", "(missing)")] if spec.nullable else []
        choices += [(option, option) for option in options]
        rendered = "".join(
            f'<option value="{escape(option, quote=True)}"'
            f"{' selected' if option == current else ''}>{escape(text)}</option>"
            for option, text in choices
        )
        return f"<select {common}>{rendered}</select>"
    step = "1" if spec.type == "integer" else "any"
    shown = (
        ""
        if value is None
        else escape(repr(value) if isinstance(value, float) else str(value), quote=True)
    )
    return f'<input {common} type="number" step="{step}" value="{shown}">'


async def _bounded_body(request: Request) -> bytes:
    """The request body, refused past `MAX_BODY_BYTES` without reading the rest."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _values(array: Any) -> Any:
    """Arrays as JSON lists: NaN and infinities as null, objects as text."""
    values = np.asarray(array)
    if values.dtype.kind in "biuf":
        floats = values.astype(np.float64)
        return np.where(np.isfinite(floats), floats, np.nan).tolist()
    return [[None if v is None else str(v) for v in row] for row in values.tolist()]
