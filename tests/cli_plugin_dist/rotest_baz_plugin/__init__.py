"""Rotest's CLI plugin example: a --baz option, and an action before the run."""
import os


def add_baz(parser):
    # Written as Rotest's hooks are (argparse's add_argument).
    parser.add_argument("--baz", action="store_true", help="Print baz before the run.")
    parser.add_option("--qux", default="none", help="A click option.")


def before_run(tests, config):
    if config.baz:
        print(f"baz: {len(tests)} test class(es), qux={config.qux}")
    os.environ["BAZ_SEEN"] = str(config.baz)  # the tests read it back
