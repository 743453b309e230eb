"""What every ``rotest`` command shares, the server's (:mod:`rotest_app.cli`) and
the runtime's (:mod:`rotest_core.cli`): the error a user can fix, and the
``--config`` option. Light, so that ``rotest run`` need not import the
server's commands."""
from __future__ import annotations

import os

import click

__all__ = ["CliError", "config_option"]


class CliError(click.ClickException):
    """A failure the user can fix: one line that says what to do, no traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _use_config_file(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Through the environment, so that the runtime's settings see it too.
    if value:
        os.environ["ROTEST_CONFIG"] = value


config_option = click.option(
    "--config", type=click.Path(exists=True, dir_okay=False), expose_value=False,
    is_eager=True, callback=_use_config_file,
    help="Settings file. Default: $ROTEST_CONFIG, else the first rotest.yml "
         "upward from here.")
