#!/usr/bin/env bash
# Creates .venv-test/ (python3 -m venv) with the pinned packages of tools/test-requirements.txt:
# the real readers the tests check gradqueue's outputs with (TensorBoard's event reader). Idempotent:
# a venv already holding the same requirements is kept. Exit 0 when ready; 1 when it cannot be
# made (no python3-venv, no network to PyPI), saying why; tests that need it then report SKIP.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv-test
req=tools/test-requirements.txt
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then
  echo "test-venv: $venv ready"
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv" || { echo "test-venv: python3 -m venv failed (install Debian's python3-venv: tools/deps.sh)" >&2; exit 1; }
if ! "$venv/bin/pip" install -q --disable-pip-version-check --timeout 30 -r "$req"; then
  rm -rf "$venv"
  echo "test-venv: pip could not install $req (no network to PyPI?)" >&2
  exit 1
fi
cp "$req" "$stamp"
echo "test-venv: $venv ready ($(grep -o "^tensorboard==[0-9.]*" "$stamp"))"
