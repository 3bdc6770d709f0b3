"""Shared fixtures: every test runs with no API key, no base URL and a private cache directory, unless
it asks for the local stand-in of the endpoint (``standin`` / ``api_settings``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from standin import StandIn

from jupyter_token_count import api as public_api
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter

#: the real key, if the developer has one: only the live test may use it
LIVE_KEY = os.environ.get("ANTHROPIC_API_KEY")
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
#: real API counts, kept outside the repository (only figures derived from their prompts may be in it); CI has
#: them beside the clone, at ../shared/calibration, and a user's clone does not
CALIBRATION = SHARED / "calibration"
needs_calibration = pytest.mark.skipif(
    not (CALIBRATION / "real_counts.jsonl").is_file(),
    reason=f"calibration data (real API requests) not at {CALIBRATION}: it is kept outside the repository, "
    "and CI runs these tests with it beside the clone",
)
#: a few real public notebooks (MIT, see fixtures/notebooks/LICENSE)
FIXTURE_NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"

_ISOLATED_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "JUPYTER_TOKEN_COUNT_MODEL",
    "JUPYTER_TOKEN_COUNT_MODE",
    "JUPYTER_TOKEN_COUNT_ESTIMATOR",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser tests run last: they are the slowest, and Playwright's event loop must not be open while
    tests that need asyncio in the main thread run."""
    items.sort(key=lambda item: "browser" in item.path.parts)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_DATA_DIR", str(tmp_path / "jtc-data"))
    public_api._default = None
    yield
    public_api._default = None


@pytest.fixture(scope="session")
def standin_server() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def standin(standin_server: StandIn) -> Iterator[StandIn]:
    standin_server.reset()
    yield standin_server
    standin_server.reset()


@pytest.fixture
def api_env(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """The environment a user with a key has, pointed at the stand-in."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", standin.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", standin.url)
    return standin


@pytest.fixture
def key_env(standin: StandIn) -> dict[str, str]:
    """The same, as the environment of a child process (the CLI run by its tests)."""
    return {"ANTHROPIC_API_KEY": standin.api_key, "ANTHROPIC_BASE_URL": standin.url}


@pytest.fixture
def api_settings(standin: StandIn, tmp_path: Path) -> Settings:
    return Settings(base_url=standin.url, data_dir=tmp_path / "cache", timeout=2.0, max_retry_wait=3.0).with_api_key(
        standin.api_key
    )


@pytest.fixture
def counter(api_settings: Settings) -> Counter:
    return Counter(api_settings)


@pytest.fixture
def fixture_notebooks() -> list[Path]:
    if not FIXTURE_NOTEBOOKS.is_dir():
        pytest.skip(f"fixture notebooks not found at {FIXTURE_NOTEBOOKS}")
    return sorted(FIXTURE_NOTEBOOKS.glob("*.ipynb"))
