#!/bin/sh
# Create the virtual environment and install leaktrace with its test and proxy extras.
set -eu
python=${1:-python3}
venv=${2:-.venv}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: leaktrace needs Python 3.11 or newer ($python is older or missing)" >&2
    exit 1
fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    echo "installing python3-venv (Debian) ..." >&2
    sh "$(dirname "$0")/apt-install.sh" python3-venv
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -e '.[test]'
# An editable install leaves the package's bytecode to be written on first import,
# which PYTHONDONTWRITEBYTECODE prevents; without it every run compiles every module.
"$venv/bin/python" -m compileall -q src >/dev/null
echo "leaktrace installed in $venv" >&2
