"""The server extension with ``redis_url`` through real HTTP (pytest-jupyter) and a real ``redis-server``:
configuration, ``GET status`` (its hub fields against openapi.yaml, never the password) and counts that go
on when Redis goes away."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_proc import RedisProc, available
from standin import StandIn, standin_count
from test_server import (  # the fixtures of the server tests, not their tests
    Client,
    _registry_restored,  # noqa: F401
    body,
    client,  # noqa: F401
    jp_server_config,  # noqa: F401
    key,  # noqa: F401
    service,  # noqa: F401
)

from jupyter_token_count.server import TokenCountConfig

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytestmark = pytest.mark.skipif(not available(), reason="redis-server is not installed (scripts/test.sh installs it)")
PASSWORD = "server-redis-password-8841"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProc]:
    server = RedisProc(tmp_path / "redis", password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def tc_config(redis_server: RedisProc) -> dict[str, Any]:
    return {"redis_url": redis_server.url, "hub_rpm": 100, "redis_timeout": 0.3}


def test_config_reads_the_url_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    assert TokenCountConfig().hub_settings() is None
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_REDIS_URL", "rediss://:pw@redis.hub.svc:6380/2")
    hub = TokenCountConfig(rpm=300).hub_settings()
    assert hub is not None and hub.url == "rediss://:pw@redis.hub.svc:6380/2" and hub.rpm == 300
    hub = TokenCountConfig(hub_rpm=1500, redis_ttl_days=1, redis_namespace="course-a").hub_settings()
    assert hub is not None and (hub.rpm, hub.ttl, hub.namespace) == (1500, 86400, "course-a")
    for bad in ({"hub_rpm": -1}, {"redis_ttl_days": 0}, {"redis_timeout": -1}, {"redis_namespace": " "}):
        with pytest.raises(Exception, match="TokenCountConfig"):
            TokenCountConfig(**bad)


async def test_status_and_counts_with_redis_up_then_down(
    client: Client,
    key: str,
    standin: StandIn,
    redis_server: RedisProc,
    service: Any,
):
    st = await client.get("status")
    hub = st["hub"]
    assert hub["enabled"] is True and hub["rpm"] == 100 and hub["url"].startswith("redis://***@127.0.0.1:")
    assert PASSWORD not in json.dumps(st)

    res = await client.post("count", body("counted once for the hub"))
    assert res["exact"] and res["input_tokens"] == standin_count(body("counted once for the hub"))
    st = await client.get("status")
    assert st["hub"]["connected"] is True and st["hub"]["shared_writes"] == 1 and st["hub"]["window_requests"] == 1
    keys = redis_server.command("KEYS", "*")
    assert any(":count:" in k for k in keys) and "counted once" not in json.dumps(keys)

    redis_server.stop()
    res = await client.post("count", body("while Redis is gone"))
    assert res["exact"]  # the server asks the API itself
    res = await client.post("count", body("counted once for the hub"))
    assert res["source"] == "cache"
    st = await client.get("status")
    assert st["hub"]["connected"] is False and st["hub"]["error"] and st["hub"]["down_since"]
    assert PASSWORD not in json.dumps(st)
    assert len(standin.count_requests()) == 2


@pytest.mark.parametrize("tc_config", [{"redis_url": "http://user:topsecret@redis:6379"}])
async def test_a_wrong_url_is_shown_in_status_and_counting_goes_on(client: Client, key: str):
    res = await client.post("count", body("no hub, still a count"))
    assert res["exact"]
    st = await client.get("status")
    assert st["hub"]["connected"] is False and "redis://" in st["hub"]["error"]
    assert "topsecret" not in json.dumps(st)


@pytest.mark.parametrize("tc_config", [{}])
async def test_without_redis_the_status_says_so(client: Client):
    st = await client.get("status")
    assert st["hub"] == {"enabled": False}
