"""Editing a notebook sends only what changed (issue 25): POST cells with ``keep``, then ``base`` and ``changes``.

Every answer to an edit is checked against what a whole post of the same notebook answers (a server with no
copy: the reference), so the copy can never drift from the notebook; every response is checked against
``openapi.yaml`` by the ``Client``. Conflicts (a restarted server, a stale base, an evicted or expired copy,
another user's copy) are 409s that a browser recovers from by sending the whole notebook again; bad input is a
400 naming what is wrong, never a 500."""

# ruff: noqa: F811  (the fixtures imported from test_server are redefined as test arguments, as pytest means)
from __future__ import annotations

import asyncio
import json
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer
from standin import StandIn, standin_count
from test_server import (  # noqa: F401  (fixtures: the same server, client and contract checks as test_server)
    SLOW_OK,
    Client,
    M,
    _notebook_body,
    _registry_restored,
    cells,
    client,
    jp_server_config,
    key,
    service,
    tc_config,
)

from jupyter_token_count.cells import count_cells
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.request import cells_from_json
from jupyter_token_count.server.notebooks import NotebookStates, StateConflict, new_state

pytest_plugins = ["pytest_jupyter.jupyter_server"]


class Browser:
    """What the front end does, in Python: keep a copy, send edits against the last answer, merge the shares."""

    def __init__(self, client: Client, nb: list[dict[str, Any]], **options: Any) -> None:
        self.client = client
        self.nb = [dict(c) for c in nb]
        self.options = {"model": M, **options}
        self.state: dict[str, Any] | None = None
        self.shares: dict[str, dict[str, Any]] = {}
        self.sent = {c["id"]: dict(c) for c in self.nb}
        self.order = [c["id"] for c in self.nb]

    async def open(self, **kw: Any) -> dict[str, Any]:
        res = await self.client.post("cells", {**self.options, "cells": self.nb, "keep": True, **kw})
        assert res["delta"] is False and res["state"]["version"] == 1
        self.state = res["state"]
        self.shares = {c["id"]: c for c in res["cells"]}
        self.sent = {c["id"]: dict(c) for c in self.nb}
        self.order = [c["id"] for c in self.nb]
        return res

    def edit(self, i: int, text: str) -> None:
        self.nb[i] = {**self.nb[i], "source": self.nb[i]["source"] + text}

    def body(self, **kw: Any) -> dict[str, Any]:
        assert self.state is not None
        body: dict[str, Any] = {**self.options, "base": self.state, **kw}
        body["changes"] = [c for c in self.nb if self.sent.get(c["id"]) != c]
        order = [c["id"] for c in self.nb]
        if order != self.order:
            body["order"] = order
        return body

    async def update(self, **kw: Any) -> dict[str, Any]:
        body = self.body(**kw)
        res = await self.client.post("cells", body)
        assert res["delta"] is True and res["state"]["version"] == self.state["version"] + 1  # type: ignore[index]
        self.state = res["state"]
        for c in res["cells"]:
            self.shares[c["id"]] = c
        self.sent = {c["id"]: dict(c) for c in self.nb}
        self.order = [c["id"] for c in self.nb]
        self.shares = {cid: self.shares[cid] for cid in self.order}
        res["merged"] = [self.shares[cid] for cid in self.order]
        return res

    async def reference(self, **kw: Any) -> dict[str, Any]:
        """The same notebook posted whole, without a copy."""
        return await self.client.post("cells", {**self.options, "cells": self.nb, **kw})


def same_answer(update: dict[str, Any], whole: dict[str, Any]) -> None:
    assert update["merged"] == whole["cells"]
    for name in ("total", "exact", "pending", "joins_and_frame", "by_type", "cost_usd", "reason", "model"):
        assert update[name] == whole[name], name


# -- the protocol -----------------------------------------------------------------------------------------
async def test_an_edit_sends_and_answers_only_what_changed(client: Client):
    b = Browser(client, cells(100))
    opened = await b.open(deadline_ms=SLOW_OK)
    assert [c["id"] for c in opened["cells"]] == b.order
    assert opened == {**await b.reference(deadline_ms=SLOW_OK), "delta": False, "state": opened["state"]}

    b.edit(37, "\nmore = [i * i for i in range(37)]")
    body = b.body(exact_total=False, deadline_ms=0)
    assert [c["id"] for c in body["changes"]] == ["c37"] and "order" not in body
    typing = await b.update(exact_total=False, deadline_ms=0)
    assert [c["id"] for c in typing["cells"]] == ["c37"]  # one share changed: one share answered
    assert typing["cells"][0]["tokens"] > opened["cells"][37]["tokens"]
    same_answer(typing, await b.reference(exact_total=False))
    assert typing["pending"] and "while you type" in typing["reason"]

    # the pause: the whole notebook's estimate, the same number a whole post and the CLI's rendering give
    paused = await b.update()
    assert paused["cells"] == [] and not paused["pending"]
    same_answer(paused, await b.reference())
    res = count_cells(Counter(Settings.from_env()), cells_from_json(b.nb), M, mode="offline")
    assert paused["total"] == res.total


async def test_cells_added_removed_moved_and_retyped(client: Client):
    b = Browser(client, cells(30))
    await b.open()
    b.nb.insert(5, {"id": "new", "cell_type": "markdown", "source": "# A new heading\nwith prose"})
    b.nb.pop(20)
    b.nb[2], b.nb[9] = b.nb[9], b.nb[2]
    b.nb[12] = {**b.nb[12], "cell_type": "raw"}
    body = b.body()
    assert {c["id"] for c in body["changes"]} == {"new", b.nb[12]["id"]} and len(body["order"]) == 30
    res = await b.update()
    assert {c["id"] for c in res["cells"]} == {"new", b.nb[12]["id"]}  # moved cells keep their shares
    same_answer(res, await b.reference())
    b.nb = b.nb[:3]  # most cells deleted: order alone
    res = await b.update(exact_total=False)
    assert res["cells"] == [] and [c["id"] for c in res["merged"]] == [c["id"] for c in b.nb]
    same_answer(res, await b.reference(exact_total=False))
    b.nb = []
    res = await b.update()
    same_answer(res, await b.reference())
    assert res["merged"] == [] and res["total"] == res["joins_and_frame"] > 0


async def test_outputs_and_images_travel_with_a_changed_cell(client: Client):
    import base64

    from media import image_bytes

    png = base64.b64encode(image_bytes("PNG", (300, 200))).decode()
    nb = cells(6)
    nb[1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ok\n" * 30}]
    b = Browser(client, nb, include_outputs=True)
    await b.open()
    b.nb[4] = {**b.nb[4], "outputs": [{"output_type": "display_data", "data": {"image/png": png}}]}
    res = await b.update(exact_total=False)
    assert [c["id"] for c in res["cells"]] == ["c4"] and res["cells"][0]["tokens"] > 50
    same_answer(res, await b.reference(exact_total=False))
    res = await b.update()
    same_answer(res, await b.reference())


@pytest.mark.parametrize("tc_config", [{"cell_counts": False}])
async def test_one_upstream_request_per_distinct_notebook_state(client: Client, key: str, standin: StandIn):
    b = Browser(client, cells(40))
    opened = await b.open(deadline_ms=SLOW_OK)
    assert opened["exact"] and len(standin.count_requests()) == 1
    original = [dict(c) for c in b.nb]
    for k in range(5):  # typing: no upstream request
        b.edit(7, f" x{k}")
        res = await b.update(exact_total=False, deadline_ms=0)
        assert not res["exact"] and res["pending"]
    assert len(standin.count_requests()) == 1
    paused = await b.update(deadline_ms=SLOW_OK)  # the pause: one request, for the notebook as it is now
    sent = standin.count_requests()
    assert len(sent) == 2 and sent[1].json == _notebook_body(b.nb)
    assert paused["exact"] and paused["total"] == standin_count(sent[1].json)
    again = await b.update(deadline_ms=SLOW_OK)  # same content (the UI's follow-up): the cache answers
    assert again["exact"] and again["total"] == paused["total"] and len(standin.count_requests()) == 2
    # undo: typing back to a state counted before finds its exact total without rendering the notebook
    b.nb = original
    undone = await b.update(exact_total=False)
    assert undone["exact"] and undone["total"] == opened["total"] and len(standin.count_requests()) == 2


# -- conflicts: the browser sends the whole notebook again ------------------------------------------------
async def _conflict(client: Client, body: dict[str, Any], needle: str) -> None:
    err = await client.post("cells", raw=json.dumps(body).encode(), status=409)
    assert err["error"]["type"] == "state_conflict"
    assert needle in err["error"]["message"] and "send the whole notebook" in err["error"]["message"]


async def test_a_base_the_server_cannot_follow_is_a_409(client: Client, service: Any):
    b = Browser(client, cells(10))
    await b.open()
    b.edit(3, " edited")
    stale = b.body()
    await b.update()
    await _conflict(client, stale, "not 1 (an answer was missed)")  # the answer to version 1 was superseded
    await _conflict(client, {**b.body(), "base": {"id": "no-such-copy", "version": 1}}, "holds no copy")
    await _conflict(client, b.body(model="claude-opus-4-5"), "was made for claude-sonnet-4-5 without outputs")
    await _conflict(client, b.body(include_outputs=True), "without outputs")
    await _conflict(client, {**b.body(), "order": [*b.order, "ghost"]}, "'ghost' in order is not in")
    await _conflict(
        client,
        {**b.body(), "changes": [{"id": "ghost", "cell_type": "code", "source": "x"}]},
        "'ghost' is not in the server's copy",
    )
    # none of these touched the copy: the browser's next edit still applies
    b.edit(4, " again")
    res = await b.update()
    same_answer(res, await b.reference())
    # a server that lost its copies (as a restart does) answers 409, and a whole post starts afresh
    service.notebooks.drop("", "")  # (no-op) the store is replaced as a restart would
    from jupyter_token_count.server.notebooks import NotebookStates

    service.notebooks = NotebookStates()
    b.edit(5, " after restart")
    await _conflict(client, b.body(), "holds no copy")
    reopened = await b.open()
    assert reopened["state"]["id"] != res["state"]["id"]


def test_a_restarted_server_has_no_copies(tmp_path: Path):
    """Real server processes: the copy made by the first is unknown to the second (409), the whole post works."""
    nb = cells(5)
    with LiveServer(tmp_path / "a", None, None, mode="offline") as first:
        status, res = first.call("POST", "cells", {"model": M, "cells": nb, "keep": True})
        assert status == 200
        base = res["state"]
    with LiveServer(tmp_path / "b", None, None, mode="offline") as second:
        edited = {**nb[0], "source": nb[0]["source"] + " edited"}
        status, err = second.call("POST", "cells", {"model": M, "base": base, "changes": [edited]})
        assert status == 409 and err["error"]["type"] == "state_conflict"
        status, res = second.call("POST", "cells", {"model": M, "cells": [edited, *nb[1:]], "keep": True})
        assert status == 200 and res["state"]["version"] == 1


async def test_a_failed_edit_leaves_the_copy_as_it_was(client: Client):
    b = Browser(client, cells(8))
    await b.open()
    bad = {**b.body(), "changes": [{"id": "c2", "cell_type": "code", "source": 5}]}
    err = await client.post("cells", raw=json.dumps(bad).encode(), status=400)
    assert "cell 3: source: expected a string" in err["error"]["message"]  # named by its place in the notebook
    b.edit(2, " fixed")
    res = await b.update()
    same_answer(res, await b.reference())


async def test_replaces_drops_the_previous_copy(client: Client, service: Any):
    b = Browser(client, cells(4))
    first = await b.open()
    assert service.notebooks.stats()["notebooks"] == 1
    second = await b.open(replaces=first["state"]["id"])
    assert service.notebooks.stats()["notebooks"] == 1
    await _conflict(client, {"model": M, "base": first["state"], "changes": []}, "holds no copy")
    status = await client.get("status")
    assert status["notebooks"]["notebooks"] == 1 and status["notebooks"]["bytes"] > 0
    assert second["state"]["id"] != first["state"]["id"]


# -- bounds -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tc_config", [{"notebook_copies": 2}])
async def test_copies_are_bounded_in_number(client: Client):
    tabs = [Browser(client, cells(5, tag=f"-{t}")) for t in range(3)]
    for tab in tabs:
        await tab.open()
    await _conflict(client, tabs[0].body(), "holds no copy")  # the least recently used went
    for tab in tabs[1:]:
        await tab.update()
    st = await client.get("status")
    assert st["notebooks"]["notebooks"] == 2 and st["notebooks"]["evicted"] == 1


@pytest.mark.parametrize("tc_config", [{"notebook_copies_mb": 0.05}])
async def test_copies_are_bounded_in_memory(client: Client):
    small, big = Browser(client, cells(5)), Browser(client, cells(200, tag=" padding" * 5))
    await small.open()
    await big.open()  # over the budget alone: it stays (it is being answered), the older copy goes
    await _conflict(client, small.body(), "holds no copy")
    st = await client.get("status")
    assert st["notebooks"]["notebooks"] == 1 and st["notebooks"]["bytes"] > 0.05 * 2**20


@pytest.mark.parametrize("tc_config", [{"notebook_copy_minutes": 0.005}])  # 0.3 s
async def test_copies_expire(client: Client):
    b = Browser(client, cells(5))
    await b.open()
    await b.update()
    await asyncio.sleep(0.6)
    await _conflict(client, b.body(), "holds no copy")
    assert (await client.get("status"))["notebooks"]["expired"] == 1


@pytest.mark.parametrize("tc_config", [{"max_request_bytes": 4000}])
async def test_a_copy_grows_no_larger_than_a_whole_post_may_be(client: Client):
    b = Browser(client, cells(4))
    await b.open()
    b.edit(1, " word" * 1000)
    err = await client.post("cells", b.body(), status=413)
    assert err["error"]["type"] == "request_too_large" and "max_request_bytes" in err["error"]["message"]


def test_copies_belong_to_their_owner_and_are_measured():
    store = NotebookStates(max_states=8, max_bytes=2**30, ttl=60)
    nb = cells_from_json(cells(50), strict=True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = new_state("alice", nb, M, False, 2**25)
    store.put(state)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert store.get("alice", state.id) is state
    with pytest.raises(StateConflict):  # another user cannot find it, even with its id
        store.get("bob", state.id)
    # what the store counts for a copy is what it takes, within a factor of two
    assert 0.5 * grown <= store.stats()["bytes"] <= 2 * grown, (grown, store.stats())


def test_a_share_cut_short_by_the_time_limit_is_not_kept_past_the_pause():
    """One time limit covers all the shares of a post: a slow cell can leave the cells after it rough. The copy
    keeps such shares while typing, and estimates them again when typing pauses; the slow text itself stays rough
    (the estimator remembers it), the others come back as ordinary estimates."""
    from jupyter_token_count.backends.offline import text as textmod

    textmod.clear_cache()
    # past SLOW_SECONDS the estimator remembers the text as slow
    counter = Counter(Settings(data_dir=None, mode="offline", estimate_timeout=textmod.SLOW_SECONDS + 0.3))
    raw = [{"id": "slow", "cell_type": "markdown", "source": "z" + "\n" * 400_000 + "z"}, *cells(5, tag=" rough?")]
    state = new_state("u", cells_from_json(raw, strict=True), M, False, 2**25)
    first = state.draft([], None)
    shares = state.shares_for(first, counter, "offline", recheck=False, settle=False)
    state.first_answer(replace(count_cells(counter, state.nb.cells, M, mode="offline"), cells=shares))
    assert all(s.rough for s in shares), [s.reason for s in shares]
    # typing: kept as they are (a keystroke costs what its cell costs)
    typing = state.draft([{**raw[2], "source": raw[2]["source"] + "!"}], None)
    kept = state.shares_for(typing, counter, "offline", recheck=False, settle=False)
    assert [s.rough for s in kept] == [True, True, False, True, True, True]
    # the pause: estimated again
    settled = state.shares_for(typing, counter, "offline", recheck=False, settle=True)
    assert [s.rough for s in settled] == [True, False, False, False, False, False]
    assert "rough" not in (settled[1].reason or "") and "rough" in (settled[0].reason or "")


def test_expiry_and_eviction_follow_use_not_age():
    now = [0.0]
    store = NotebookStates(max_states=2, max_bytes=2**30, ttl=100, clock=lambda: now[0])
    nb = cells_from_json(cells(3), strict=True)
    a, b, c = (new_state("u", nb, M, False, 2**25) for _ in range(3))
    store.put(a)
    store.put(b)
    now[0] = 50
    store.get("u", a.id)  # used: b is now the least recently used
    store.put(c)
    assert store.get("u", a.id) is a and store.get("u", c.id) is c
    with pytest.raises(StateConflict):
        store.get("u", b.id)
    now[0] = 149
    store.get("u", c.id)
    now[0] = 151  # a unused for 101 s
    with pytest.raises(StateConflict):
        store.get("u", a.id)
    assert store.get("u", c.id) is c


# -- bad input: 400s naming what is wrong -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"base": "abc"}, "base: expected {id, version} of a kept copy, got a string"),
        ({"base": {"version": 1}}, "base.id: expected the id"),
        ({"base": {"id": "x" * 65, "version": 1}}, "base.id: expected the id"),
        ({"base": {"id": "abc", "version": True}}, "base.version: expected the version of the last answer"),
        ({"base": {"id": "abc", "version": -1}}, "base.version"),
        ({"changes": {"id": "c1"}}, "changes: expected an array of cells, got an object"),
        ({"order": "c1"}, "order: expected an array of cell ids, got a string"),
        ({"order": ["c0", 3]}, "order[1]: expected a cell id (a string), got a number"),
        ({"cells": []}, "cells: not with base"),
        ({"keep": True}, "keep: not with base"),
        ({"exact_total": "no"}, "exact_total: expected a boolean"),
    ],
)
async def test_malformed_changes_are_400s(client: Client, patch: dict[str, Any], message: str):
    b = Browser(client, cells(4))
    await b.open()
    err = await client.post("cells", raw=json.dumps({**b.body(), **patch}).encode(), status=400)
    assert err["error"]["type"] in ("invalid_request_error", "invalid_json")
    assert message in err["error"]["message"]


@pytest.mark.parametrize(
    ("changes", "order", "message"),
    [
        (["c1"], None, "changes[0]: expected a cell"),
        ([{"cell_type": "code", "source": "x"}], None, "changes[0]: each changed cell needs its id, a string: missing"),
        ([{"id": 7, "cell_type": "code", "source": "x"}], None, "not a string"),
        ([{"id": "c1", "cell_type": "python", "source": "x"}], None, "cell 2: unknown cell_type 'python'"),
        ([{"id": "c1", "cell_type": "code", "source": "x"}] * 2, None, "changes: cell id 'c1' appears more than once"),
        ([], ["c0", "c1", "c1", "c3"], "order: cell id 'c1' appears more than once"),
        ([{"id": "new", "cell_type": "code", "source": "x"}], ["c0", "c1", "c2", "c3"], "cell 'new' is not in order"),
    ],
)
async def test_bad_changes_are_400s_naming_the_cell(
    client: Client, changes: list[Any], order: list[str] | None, message: str
):
    b = Browser(client, cells(4))
    await b.open()
    body = {**b.body(), "changes": changes}
    if order is not None:
        body["order"] = order
    err = await client.post("cells", raw=json.dumps(body).encode(), status=400)
    assert message in err["error"]["message"], err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"cells": [], "keep": "yes"}, "keep: expected a boolean, got a string"),
        ({"cells": [], "replaces": "abc"}, "replaces: the id of a kept copy (a string), only with keep: true"),
        ({"cells": [], "keep": True, "replaces": 5}, "replaces: the id of a kept copy"),
    ],
)
async def test_bad_keep_is_400(client: Client, body: dict[str, Any], message: str):
    err = await client.post("cells", raw=json.dumps({"model": M, **body}).encode(), status=400)
    assert message in err["error"]["message"]


async def test_messages_takes_the_whole_notebook_only(client: Client):
    """Copying the notebook as messages needs every cell: changes to a kept copy are no input for it."""
    b = Browser(client, cells(3))
    await b.open()
    b.edit(1, " more")
    err = await client.post("messages", b.body(), status=400)
    assert err["error"]["message"].startswith("cells: required") and "base" not in err["error"]["message"]
    whole = await client.post("messages", {"model": M, "cells": b.nb})
    assert "more" in json.dumps(whole["request"]["messages"])
