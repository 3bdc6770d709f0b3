#!/usr/bin/env bash
# All the tests: lint (ruff; prettier and eslint for the TypeScript), the TypeScript unit tests (jest),
# Python tests (core, magics, CLI, widget in a real kernel, server extension through real HTTP), and the
# JupyterLab UI in headless Chromium. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
# shellcheck disable=SC1091
. .venv/bin/activate

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
if ! command -v chromium >/dev/null 2>&1; then
  echo "» installing Debian's chromium for the browser tests"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

# The hub tests run a real Redis (Debian's redis-server), started by the fixtures on a free port.
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  echo "» installing Debian's redis-server for the hub tests"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

echo "» ruff"
ruff check jupyter_token_count tests bench scripts hatch_build.py
ruff format --check jupyter_token_count tests bench scripts hatch_build.py
# The front end's dev dependencies (eslint, prettier, jest) come with the locked install the build uses.
echo "» TypeScript: prettier, eslint, jest"
(
  cd labextension
  jlpm install --immutable >/dev/null
  jlpm lint:check
  jlpm test --ci
)
# The shipped estimator figures, few-count marks and range coefficients (models.json) and the README's accuracy
# tables must be what the fit on the real counts produces. The counts live beside the checkout
# (../shared/calibration), never in it: where they are absent the script says it skipped.
echo "» the fit: python bench/calibration_error.py --check"
python bench/calibration_error.py --check
echo "» pytest"
python -m pytest "$@"
