"""The ``rotest`` console script; ``python -m rotest_core.cli`` runs it too."""
import click

from app.cli import config_option, register

from . import __version__


@click.group(name="rotest", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rotest")
@config_option
def main() -> None:
    """Rotest: lock lab resources, run resource-oriented tests, report on them."""


register(main)

if __name__ == "__main__":
    main()
