#!/usr/bin/env bash
# The full test suite, from a fresh clone: Debian's chromium (for the real-browser tests),
# a .venv with requirements-dev.txt, then pytest with every test, including those marked slow.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k viz`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

python=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet -r requirements-dev.txt

# pyproject.toml deselects `slow` for quick local runs; -m '' selects everything again.
# pytest exits non-zero when a test fails and with 5 when it collected no test at all.
exec .venv/bin/python -m pytest -m '' "$@"
