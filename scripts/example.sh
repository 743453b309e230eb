#!/usr/bin/env bash
# The calculator example (examples/calculator), end to end, in one command:
#   bash scripts/example.sh [options for `rotest run`...]
# Installs the project, starts the example's rpyc calculator server (stopped
# again on exit), imports resources.yml into the embedded database (no lock
# server needed) and runs the example's tests with `rotest run`, then their
# pytest variant (pytest_tests/, with the rotest plugin). The reports stay: the
# console's, and the run folders under examples/calculator/.rotest. The exit
# code is 0 when both runs passed. It installs into the active virtualenv, or else
# into .venv in the checkout (made here). EXAMPLE_NO_INSTALL=1 skips the
# install and uses the python3 it finds.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXAMPLE="$ROOT/examples/calculator"
PORT=18861  # the port in resources.yml

if [ "${EXAMPLE_NO_INSTALL:-}" != 1 ]; then  # set it where the project is installed
    source "$ROOT/scripts/venv.sh"
    python3 -m pip install --quiet --disable-pip-version-check -e "$ROOT" "pytest>=8"
fi

cd "$EXAMPLE"
# Embedded mode with the example's own settings, whatever the caller's are.
unset ROTEST_HOST ROTEST_PORT ROTEST_TOKEN ROTEST_DATABASE_URL ROTEST_PLUGINS ROTEST_WORKDIR
export ROTEST_CONFIG="$EXAMPLE/rotest.yml"
export PYTHONPATH="$EXAMPLE${PYTHONPATH:+:$PYTHONPATH}"  # the calculator_resources plugin
rotest() { python3 -m rotest_core.cli "$@"; }  # works when pip's bin is not on PATH

python3 server.py --port "$PORT" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
python3 - "$PORT" <<'PY'
import sys, time
from calculator_resources import ping
deadline = time.monotonic() + 15
while True:
    try:
        ping("127.0.0.1", int(sys.argv[1]))
        break
    except ConnectionError as error:
        if time.monotonic() > deadline:
            sys.exit(f"the calculator server did not start: {error}")
        time.sleep(0.1)
PY
if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the calculator server exited: is port $PORT taken by another program?" >&2
    exit 1
fi

rotest resources import resources.yml

status=0
rotest run tests "$@" || status=$?  # its report names the run's folder
# The same calculators from plain pytest tests (pytest.ini here: pytest_tests/).
python3 -m pytest -p no:cacheprovider --rotest-report junit,html || status=$?
exit "$status"
