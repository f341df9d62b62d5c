# Sourced by dist_train.sh / dist_test.sh: sets PY to the Python of the environment the script was called from.
# Order: $PYTHON as given; the active virtualenv ($VIRTUAL_ENV) or conda env ($CONDA_PREFIX); the checkout's
# .venv; then `python` and `python3` on PATH. Only an interpreter that has torch is taken (a bare system python3
# would fail later with "No module named 'torch'").
_has_torch() { "$1" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' \
    >/dev/null 2>&1; }
PY=""
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
else
    for candidate in ${VIRTUAL_ENV:+"$VIRTUAL_ENV/bin/python"} ${CONDA_PREFIX:+"$CONDA_PREFIX/bin/python"} \
            "$HERE/../.venv/bin/python" "$(command -v python || true)" "$(command -v python3 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && _has_torch "$candidate"; then
            PY=$candidate
            break
        fi
    done
fi
if [ -z "$PY" ]; then
    echo "error: no Python with torch found (tried \$VIRTUAL_ENV, \$CONDA_PREFIX, $HERE/../.venv, python, python3);" \
        "activate the environment or set PYTHON=/path/to/python" >&2
    exit 2
fi
