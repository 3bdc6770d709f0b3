#!/usr/bin/env bash
# Idempotent set-up shared by `make run` and `make test`: a virtualenv in .venv holding the package
# (editable; `pip install` builds its JupyterLab extension with jlpm) and the extras asked for.
# Usage: scripts/setup.sh [extra]   (extra: lab | test)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-lab}"
python="${PYTHON:-python3}"

# PYTHON picks the interpreter (`PYTHON=python3.13 make test`): a .venv made earlier with another one is made anew,
# not silently kept.
if [ -n "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then
  version='import sys; print("%d.%d" % sys.version_info[:2])'
  want="$("$python" -c "$version")"
  have="$(.venv/bin/python -c "$version" 2>/dev/null || echo unknown)"
  if [ "$want" != "$have" ]; then
    echo "» .venv holds Python $have but PYTHON=$python is $want: making .venv anew"
    rm -rf .venv
  fi
fi
if [ ! -x .venv/bin/python ]; then
  echo "» creating .venv"
  "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check --upgrade pip

# A development link left by an earlier set-up (see the end) would make pip write install.json through it
# into the build folder, and the next install would then find that file twice: start from a clean state.
link=".venv/share/jupyter/labextensions/jupyter-token-count"
if [ -L "$link" ]; then rm "$link"; fi
rm -f jupyter_token_count/labextension/install.json

echo "» installing jupyter-token-count[$extra] (builds the JupyterLab extension on first run)"
python -m pip install --quiet --disable-pip-version-check -e ".[$extra]"

# pip skips the front-end build when a built extension exists: rebuild it if its sources are newer.
built=jupyter_token_count/labextension/static/style.js
if [ -f "$built" ] && [ -n "$(find labextension/src labextension/style labextension/schema labextension/package.json -newer "$built" -print -quit)" ]; then
  echo "» rebuilding the JupyterLab extension (its sources changed)"
  (cd labextension && jlpm install --immutable >/dev/null && jlpm build >/dev/null)
fi

# ctok (the offline tokenizer reconstruction) declares Python >= 3.12 but runs on 3.10/3.11 too; our
# dependency carries a python_version marker, so on older Pythons install it past that check here.
if ! python -c "import ctok" 2>/dev/null; then
  echo "» installing ctok past its Python >= 3.12 declaration"
  python -m pip install --quiet --disable-pip-version-check --ignore-requires-python "ctok==1.3.0"
fi

# Link the build folder into Jupyter's data dir, so a later `jlpm build` shows up without reinstalling.
jupyter-builder develop --overwrite . >/dev/null
