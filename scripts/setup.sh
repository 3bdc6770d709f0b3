#!/usr/bin/env bash
# Idempotent set-up shared by `make run` and `make test`: a virtualenv in .venv holding the package
# (editable; `pip install` builds its JupyterLab extension with jlpm) and the extras asked for.
# Usage: scripts/setup.sh [extra]   (extra: lab | test)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-lab}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "» creating .venv"
  "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check --upgrade pip

echo "» installing jupyter-token-count[$extra] (builds the JupyterLab extension on first run)"
python -m pip install --quiet --disable-pip-version-check -e ".[$extra]"

# ctok (the offline tokenizer reconstruction) declares Python >= 3.12 but runs on 3.10/3.11 too; our
# dependency carries a python_version marker, so on older Pythons install it past that check here.
if ! python -c "import ctok" 2>/dev/null; then
  echo "» installing ctok past its Python >= 3.12 declaration"
  python -m pip install --quiet --disable-pip-version-check --ignore-requires-python "ctok==1.3.0"
fi

# An editable install does not copy the built extension into Jupyter's data dir: link it once.
if ! jupyter labextension list 2>&1 | grep -q "jupyter-token-count.*enabled.*OK"; then
  jupyter labextension develop --overwrite . >/dev/null
fi
