#!/usr/bin/env bash
# `make dist`: the sdist and the wheel, in dist/ (or the folder given), built from a clean tree: the committed HEAD,
# exported with `git archive`, so no development build of the front end, no lib/ and no stray file gets in. The
# package's build hook builds the front end for production (jlpm build:prod: minified, no source maps) into the
# sdist, and the wheel is built from that sdist, as pip builds one for a user. Building needs Node.js; the wheel
# does not. Uncommitted changes are not in the build (a warning says so).
# Usage: scripts/dist.sh [OUTDIR]   (the Python with `build` installed: $PYTHON, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "» warning: uncommitted changes are not in the build (it is made from HEAD, $(git rev-parse --short HEAD))" >&2
fi

"$python" -c "import build" 2>/dev/null || "$python" -m pip install --quiet --disable-pip-version-check "build>=1.2"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git archive --format=tar HEAD | tar -x -C "$work"
# the npm packages the lockfile names, from this checkout's yarn cache when it has them (no download)
if [ -d labextension/.yarn/cache ]; then
  mkdir -p "$work/labextension/.yarn"
  ln -s "$root/labextension/.yarn/cache" "$work/labextension/.yarn/cache"
fi

echo "» building the sdist and the wheel from HEAD ($(git rev-parse --short HEAD)) into $out"
"$python" -m build --outdir "$out" "$work" >"$work.log" 2>&1 || {
  tail -n 40 "$work.log" >&2
  rm -f "$work.log"
  exit 1
}
rm -f "$work.log"
ls -l "$out"
