"""Drive a V2 server with KServe's or MLServer's own client code; print one JSON line of it.

Run with the clients' python (`.venv-clients/bin/python v2_clients.py kserve|mlserver PORT`), the
reference rows as JSON on stdin; never imported by the suite: kserve and mlserver pin other web
framework versions than the service, and both register the same gRPC proto names, so each client
runs in a process of its own. Knows nothing of mlvajra.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
import pandas as pd

MODEL = "penguins"
TYPES = {"island": object, "sex": object, "year": np.int64}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame; strings as object (MLServer's codec refuses pandas 3's str)."""
    return pd.DataFrame(rows).astype(TYPES)


async def _kserve(port: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Health, model ready, JSON and binary inference, a refused column, an unknown model."""
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    def request(frame: pd.DataFrame, binary: bool) -> InferRequest:
        inputs = []
        for name in frame.columns:
            column = frame[name].to_numpy().reshape(-1, 1)
            if column.dtype == np.float64:
                column = column.astype(np.float32)
            datatype = {"O": "BYTES", "f": "FP32", "i": "INT64"}[column.dtype.kind]
            tensor = InferInput(name, list(column.shape), datatype)
            tensor.set_data_from_numpy(column, binary_data=binary)
            inputs.append(tensor)
        return InferRequest(MODEL, inputs, request_id="kserve-1")

    base = f"http://127.0.0.1:{port}"
    seen: dict[str, Any] = {}
    async with InferenceRESTClient(RESTConfig(protocol="v2", timeout=30)) as client:
        seen["live"] = await client.is_server_live(base)
        seen["ready"] = await client.is_server_ready(base)
        seen["model_ready"] = await client.is_model_ready(base, MODEL)
        seen["unknown_model_ready"] = await client.is_model_ready(base, "nope")
        frame = _frame(rows)
        for mode, binary in (("json", False), ("binary", True)):
            response = await client.infer(base, request(frame, binary), model_name=MODEL)
            outputs = {output.name: output.as_numpy() for output in response.outputs}
            labels = outputs["predict"].reshape(-1).tolist()
            seen[mode] = {
                "id": response.id,
                "labels": [
                    label.decode() if isinstance(label, bytes) else label for label in labels
                ],
                "proba_shape": list(outputs["predict_proba"].shape),
            }
        bad = frame.iloc[:1].astype({"year": np.float32})
        for label, body, model in (("bad", bad, MODEL), ("unknown", frame, "nope")):
            try:
                await client.infer(base, request(body, True), model_name=model)
                seen[label] = "accepted"
            except httpx.HTTPStatusError as error:
                seen[label] = {"status": error.response.status_code, "body": error.response.json()}
    return seen


def _mlserver(port: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """PandasCodec and NumpyCodec requests, MLServer's own types and JSON, its codecs to decode."""
    from mlserver.codecs import NumpyCodec, PandasCodec
    from mlserver.codecs.json import encode_to_json_bytes
    from mlserver.types import InferenceRequest, InferenceResponse, RequestOutput

    url = f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer"

    def post(request: InferenceRequest) -> httpx.Response:
        body = encode_to_json_bytes(request.model_dump())
        return httpx.post(url, content=body, headers={"content-type": "application/json"})

    frame = _frame(rows)
    # PandasCodec, labels only (MLServer's sklearn default; mlvajra's is every output), decoded
    # back into a DataFrame by the same codec.
    pandas_request = PandasCodec.encode_request(frame, use_bytes=False)
    pandas_request.outputs = [RequestOutput(name="predict")]
    answer = post(pandas_request)
    answer.raise_for_status()
    response = InferenceResponse.model_validate_json(answer.content)
    seen: dict[str, Any] = {
        "pandas": {
            "id": response.id,
            "labels": PandasCodec.decode_response(response)["predict"].tolist(),
        }
    }
    # NumpyCodec: one [N, 1] tensor per column, both outputs asked for by name.
    numpy_request = InferenceRequest(
        id="mlserver-np",
        inputs=[
            NumpyCodec.encode_input(name, frame[name].to_numpy().reshape(-1, 1))
            for name in frame.columns
        ],
        outputs=[RequestOutput(name="predict"), RequestOutput(name="predict_proba")],
    )
    answer = post(numpy_request)
    answer.raise_for_status()
    response = InferenceResponse.model_validate_json(answer.content)
    by_name = {output.name: NumpyCodec.decode_output(output) for output in response.outputs}
    seen["numpy"] = {
        "id": response.id,
        "labels": by_name["predict"].reshape(-1).tolist(),
        "proba_shape": list(by_name["predict_proba"].shape),
    }
    missing = frame.iloc[:1].astype({"bill_length_mm": np.float64})
    missing.loc[0, "bill_length_mm"] = np.nan  # MLServer's NaN convention: JSON null in FP data
    missing_request = PandasCodec.encode_request(missing, use_bytes=False)
    missing_request.outputs = [RequestOutput(name="predict")]
    answer = post(missing_request)
    seen["missing"] = PandasCodec.decode_response(
        InferenceResponse.model_validate_json(answer.content)
    )["predict"].tolist()
    bad = frame.iloc[:1].astype({"year": np.float64})
    bad.loc[0, "year"] = np.nan  # year is not nullable: refused
    answer = post(PandasCodec.encode_request(bad, use_bytes=False))
    seen["bad"] = {"status": answer.status_code, "body": answer.json()}
    return seen


def main(client: str, port: int) -> None:
    """Run one client against 127.0.0.1:port with the rows read from stdin."""
    rows = json.load(sys.stdin)
    seen = asyncio.run(_kserve(port, rows)) if client == "kserve" else _mlserver(port, rows)
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
