"""Tools: definitions, the tool-use system prompt, ``tool_use`` calls.

Calibration showed custom tool definitions cost what ``<function>{json}</function>`` costs, where the
JSON has the keys ``description`` (left out when empty), ``name`` and ``parameters`` (the input
schema), keys sorted, one definition per line. That is the shape of the tool list in Claude's
tool-use system prompt, whose fixed part is the per-model overhead the docs publish by
``tool_choice``. A call in the transcript costs a fixed wrapper plus its name, and per argument a
fixed wrapper plus the argument's name and value (strings as is, anything else as JSON), the shape of
the XML the model writes for a call. The fixed parts are calibrated figures in ``models.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ...registry import ModelInfo

Count = Callable[[str], int]
#: a calibrated figure by dotted path (``figure("tool_use", "base")``), recorded as used by the estimate
Figure = Callable[..., int]


def definition_text(tool: dict[str, Any]) -> str:
    """The rendering of one custom tool definition whose tokens match the calibration."""
    d: dict[str, Any] = {}
    if tool.get("description"):
        d["description"] = tool["description"]
    d["name"] = tool.get("name", "")
    d["parameters"] = tool.get("input_schema", {})
    return "<function>" + json.dumps(d, sort_keys=True, ensure_ascii=False) + "</function>"


def anthropic_tool_cost(tool: dict[str, Any], fig: dict[str, Any]) -> tuple[int, str | None]:
    """Fixed cost of an Anthropic-defined tool (``bash_20250124``, ``text_editor_…``, ``memory_…``),
    matched by type prefix in the calibrated table; an unknown one is costed as its JSON plus a note."""
    kind = str(tool.get("type", ""))
    table = fig.get("anthropic_tools") or {}
    for prefix in sorted(table, key=len, reverse=True):  # "computer_toolset_" before "computer_"
        if kind.startswith(prefix):
            return int(table[prefix]), None
    return -1, f"tool type {kind!r} has no known fixed cost: counted as its JSON"


def choice_kind(body: dict[str, Any]) -> str:
    tc = body.get("tool_choice")
    kind = tc.get("type") if isinstance(tc, dict) else None
    return kind if kind in ("auto", "any", "tool", "none") else "auto"


def prompt_kind(body: dict[str, Any], info: ModelInfo) -> str:
    """Which of the model's tool-use prompts a request with tools gets: ``auto`` (also for ``none``), ``any``,
    or ``tool`` where the model has a measured figure of its own for naming the tool (else ``any``)."""
    kind = choice_kind(body)
    if kind == "tool":
        return "tool" if info.tool_overhead_tool is not None else "any"
    return "any" if kind == "any" else "auto"


def overhead(body: dict[str, Any], info: ModelInfo, figure: Figure, count: Count) -> tuple[int, list[str]]:
    """The tool-use system prompt: the model's published figure for its ``tool_choice``, plus the
    forced tool's name for ``{"type": "tool"}``. None is charged without tools."""
    if not body.get("tools"):
        return 0, []
    notes: list[str] = []
    kind = choice_kind(body)
    forced = kind in ("any", "tool")
    prompt = prompt_kind(body, info)
    value = {"auto": info.tool_overhead_auto, "any": info.tool_overhead_any, "tool": info.tool_overhead_tool}[prompt]
    if value is None:
        value = figure("tool_overhead_default", "any" if forced else "auto")
        notes.append(f"tool-use prompt size for {info.id} is unknown (no published figure): assumed {value} tokens")
    else:  # recorded like any other figure (the value is the model's): the range depends on it
        figure("tool_overhead", prompt, value=value)
        if "tool_overhead" in info.uncertain:
            notes.append(f"tool-use prompt size for {info.id} is inferred (no published figure)")
    if forced and info.notes.get("forced_tool_choice_error"):
        notes.append(f"{info.id} rejects a forced tool_choice ({kind!r}): the request would fail as sent")
    total = int(value)
    tc = body.get("tool_choice") or {}
    if kind == "tool":
        total += figure("tool_choice_tool") + count(str(tc.get("name", "")))
    if isinstance(tc, dict) and tc.get("disable_parallel_tool_use") is True and kind != "none":
        # "at most one tool" is an instruction of its own in the tool-use prompt
        total += figure("tool_choice_single")
    return total, notes


def render_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def tool_use_tokens(block: dict[str, Any], figure: Figure, count: Count) -> int:
    """A ``tool_use`` block (also ``server_tool_use`` / ``mcp_tool_use``) in the transcript."""
    total = figure("tool_use", "base") + count(str(block.get("name", "")))
    args = block.get("input")
    if isinstance(args, dict):
        for key, value in args.items():
            total += figure("tool_use", "param") + count(str(key)) + count(render_value(value))
    elif args is not None:
        total += count(render_value(args))
    return total
