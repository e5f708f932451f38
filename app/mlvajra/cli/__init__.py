"""`mlvajra`: train, package, verify, serve and batch-score one artifact.

The root only routes: each verb group lives in its own module with a `register(cli)` function,
and every `MlvajraError` of every verb is caught once, here.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import mlvajra
from mlvajra.cli import feedback, serving, training, trust
from mlvajra.cli.serving import GUNICORN_ARGS
from mlvajra.errors import MlvajraError
from mlvajra.explain import commands as explain
from mlvajra.stack.commands import stack_cli

__all__ = ["GUNICORN_ARGS", "cli", "main"]


class _OneLineErrors(TyperGroup):
    """Every `MlvajraError` of every verb ends here: its one line on stderr, exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except MlvajraError as error:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=1) from None


def _show_version(show: bool) -> None:
    if show:
        typer.echo(f"mlvajra {mlvajra.__version__}")
        raise typer.Exit()


cli = typer.Typer(
    cls=_OneLineErrors,
    help="Put one trained scikit-learn pipeline into production.",
    no_args_is_help=True,
)
cli.add_typer(stack_cli, name="stack")
for _verbs in (training, serving, trust, feedback, explain):
    _verbs.register(cli)


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Put one trained scikit-learn pipeline into production."""


def main() -> None:
    """Console entry point."""
    cli()
