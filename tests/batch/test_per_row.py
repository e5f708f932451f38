"""Batch decides per row as the API does: integral floats, JSON lines Arrow refuses, headers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from mlvajra.cli import cli
from tests.fixtures import REFERENCE_ROWS

runner = CliRunner()
RECORD = REFERENCE_ROWS[0][0]


def _predict(artifact_dir: Path, source: Path, tmp_path: Path) -> tuple[list[dict[str, str]], ...]:
    output, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    args = ["predict", "--model-dir", str(artifact_dir), str(source), str(output)]
    result = runner.invoke(cli, [*args, "--keep", "id", "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    return tuple(list(csv.DictReader(path.read_text().splitlines())) for path in (output, rejects))


def test_json_lines_arrow_refuses_reject_only_their_row(artifact_dir: Path, tmp_path: Path) -> None:
    lines = [json.dumps({"id": row} | RECORD) for row in range(8)]
    lines[1] = lines[1].replace('"year": 2007', '"year": 2007.5')
    lines[2] = lines[2].replace('"bill_length_mm": 39.1', '"bill_length_mm": 1e400')
    lines[3] = lines[3].replace('"sex": "male"', '"sex": "male", "sex": "female"')
    lines[4] = lines[4].replace('"year": 2007', '"year": 2007.0')
    lines[5] = lines[5].replace('"year": 2007', '"year": NaN')
    lines[6] = '{"id": 6, "island": '
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    scored, rejected = _predict(artifact_dir, source, tmp_path)
    assert [row["id"] for row in scored] == ["0", "4", "7"]
    assert {row["label"] for row in scored} == {REFERENCE_ROWS[0][1]}
    assert [(row["id"], row["row"], row["field"], row["reason"]) for row in rejected] == [
        ("1", "1", "year", "must be an integer"),
        ("2", "2", "bill_length_mm", "must be a finite number (not NaN or Infinity)"),
        ("3", "3", "sex", "duplicate field: each key may appear once"),
        ("5", "5", "year", "must be an integer"),
        ("", "6", "", "the line is not a JSON object"),
    ]


def test_pandas_float_integers_score_as_integers(artifact_dir: Path, tmp_path: Path) -> None:
    # An int column with one missing value becomes float in pandas: 2007.0, 2008.0, NaN.
    frame = pd.DataFrame([RECORD, RECORD | {"year": 2008}, RECORD]).rename_axis("id")
    frame["year"] = frame["year"].astype("float64")
    frame.loc[2, "year"] = np.nan
    frame = frame.reset_index()
    for suffix in ("parquet", "csv", "jsonl"):
        source = tmp_path / f"in.{suffix}"
        if suffix == "parquet":
            frame.to_parquet(source)
        elif suffix == "csv":
            frame.to_csv(source, index=False)  # writes 2007.0 and an empty cell
        else:
            source.write_text(frame.to_json(orient="records", lines=True))
        scored, rejected = _predict(artifact_dir, source, tmp_path)
        assert [row["id"] for row in scored] == ["0", "1"], suffix
        assert [(row["row"], row["field"]) for row in rejected] == [("2", "year")], suffix


def test_a_duplicate_csv_header_is_refused(artifact_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    header = ",".join([*RECORD, "year"])
    source.write_text(header + "\n" + ",".join(map(str, [*RECORD.values(), 1999])) + "\n")
    args = ["predict", "--model-dir", str(artifact_dir), str(source), str(tmp_path / "out.csv")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "the input has 1 duplicate column(s): year" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
