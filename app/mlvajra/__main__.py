"""`python -m mlvajra`: the CLI, for when the `mlvajra` script is not on PATH."""

from mlvajra.cli import main

main()
