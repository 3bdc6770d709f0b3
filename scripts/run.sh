#!/usr/bin/env bash
# The main job: JupyterLab with jupyter-token-count on the demo notebook. Counts are exact when
# ANTHROPIC_API_KEY is set, offline estimates (marked ≈) otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh lab
# shellcheck disable=SC1091
. .venv/bin/activate
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
  echo "» ANTHROPIC_API_KEY is set: counts are exact (Anthropic's count_tokens endpoint)"
else
  echo "» no ANTHROPIC_API_KEY: counts are offline estimates, marked ≈"
fi
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-root)  # containers and CI machines often run as root
exec jupyter lab --ServerApp.root_dir="$PWD/examples" "${extra[@]}" "$@" "$PWD/examples/demo.ipynb"
