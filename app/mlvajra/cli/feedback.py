"""`mlvajra feedback export`: the collected labels, with their records, to any data kind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlvajra.errors import DataError

feedback_cli = typer.Typer(help="Ground-truth labels collected by POST /feedback.")


@feedback_cli.command("export")
def export(
    output: Annotated[str, typer.Argument(help="Where to write: any kind mlvajra.data writes.")],
    state_dir: Annotated[
        Path, typer.Option("--state-dir", envvar="MLVAJRA_STATE_DIR", help="The service's state.")
    ],
    model: Annotated[
        str | None, typer.Option("--model", help="Model name (needed when the dir holds several).")
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Name of the label column.")] = "label",
) -> None:
    """Write every label whose record is known (given, or logged by prediction id).

    Columns: the record's fields, the label as text, the version it scores, its prediction id,
    source and time. Nothing is deleted from the store.
    """
    import pyarrow as pa

    from mlvajra.data.kinds import open_location
    from mlvajra.monitoring.feedback import FeedbackStore

    stores = sorted(state_dir.glob(f"{model or '*'}.feedback.sqlite"))
    if len(stores) != 1:
        found = ", ".join(path.name for path in stores) or "none"
        raise DataError(
            f"{state_dir}: expected one <model>.feedback.sqlite (found {found}); use --model"
        )
    labels = FeedbackStore(stores[0]).labelled()
    rows = [
        {**item["record"], target: item["label"], "version": item["version"],
         "prediction_id": item["prediction_id"], "source": item["source"],
         "received_at": item["received_at"]}
        for item in labels
        if item["record"] is not None
    ]  # fmt: skip
    if not rows:
        raise DataError(f"{stores[0]}: no label with a known record to export")
    table = pa.Table.from_pylist(rows)
    with open_location(output).writer(table.schema) as sink:
        sink.write(table)
    skipped = len(labels) - len(rows)
    typer.echo(f"wrote {len(rows)} labels to {output} ({skipped} without a known record skipped)")


def register(app: typer.Typer) -> None:
    """Add `feedback export` to the CLI."""
    app.add_typer(feedback_cli, name="feedback")
