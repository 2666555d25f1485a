"""The ``predict`` command line: one Typer app, one sub-command per job."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(help="Evaluate lending client relationships.", no_args_is_help=True)


def _configure_logging(quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Sub-commands are added below, one function each; keep their logic in the library.
