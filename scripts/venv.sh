# Sourced by the scripts: run inside the active virtualenv, or else inside
# .venv in the checkout (made on first use), so that pip never writes into the
# system's Python (which Debian and others refuse: PEP 668).
if [ -z "${VIRTUAL_ENV:-}" ]; then
    if [ ! -x "$ROOT/.venv/bin/python3" ]; then
        echo "making a virtualenv in $ROOT/.venv ..."
        if ! python3 -m venv "$ROOT/.venv" 2>/dev/null; then
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                echo "installing Debian's python3-venv..."
                apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
                rm -rf "$ROOT/.venv" && python3 -m venv "$ROOT/.venv"
            else
                echo "cannot make a virtualenv: install Python's venv module (Debian: apt-get install python3-venv), or activate a virtualenv first" >&2
                exit 1
            fi
        fi
    fi
    export VIRTUAL_ENV="$ROOT/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
fi
