"""Drive a scoring server with MLflow's own client; prints one JSON line of what it saw.

Run as a script (`python mlflow_client.py PORT`), not imported: mlflow takes seconds to import
and warns at import time, which pytest (warnings as errors) must not see.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

from tests.fixtures import REFERENCE_ROWS


def main(port: int) -> None:
    """Ping, score the reference rows, a row with missing values (sent as NaN), a bad row."""
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=10)
    frame = pd.DataFrame([row for row, _ in REFERENCE_ROWS]).astype(
        {"island": object, "sex": object}
    )
    missing = frame.iloc[:1].copy()
    missing.loc[0, ["bill_length_mm", "sex"]] = [np.nan, np.nan]
    seen = {
        "reference": client.invoke(frame)["predictions"],
        "missing": client.invoke(missing)["predictions"],
    }
    bad = frame.iloc[:1].copy()
    bad["year"] = np.nan  # year is not nullable: refused
    try:
        client.invoke(bad)
        seen["bad"] = "accepted"
    except Exception as error:  # MlflowException carrying the server's answer
        seen["bad"] = str(error)
    print(json.dumps(seen))


if __name__ == "__main__":
    main(int(sys.argv[1]))
