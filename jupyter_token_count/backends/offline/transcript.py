"""A count_tokens request body → token parts, costed as the single transcript the model reads.

The structure found in the calibration counts (details and figures in ``models.json``, ``framing``):

* The prompt is one tokenization of a transcript. For the v3 and v4.7 tokenizers it is textual:
  ``[system]\\n\\nHuman: …\\n\\nAssistant: …\\n\\nHuman: …\\n\\nAssistant:``; the v4.8 family uses
  two-token role markers instead. A one-user-message request costs ``message_frame`` + its content.
* Each role switch adds a turn marker; consecutive messages of one role merge into one turn with a
  one-token join; text blocks of a turn are concatenated (a seam correction handles tokens spanning
  two blocks). A final assistant message (a prefill) *is* the last marker, so one marker less.
* A system prompt costs its text tokenized as the very start of the prompt (no word boundary before
  it), after a newline on some models (``system_prefix``), plus a small constant.
* Tools add the model's tool-use prompt (by ``tool_choice``) and their rendered definitions; calls,
  results, thinking, documents and search results carry small calibrated wrappers.
* Thinking blocks of previous assistant turns are ignored; the current (final) assistant turn's
  thinking counts, as the token-counting docs say, and as the calibration counts on Sonnet 3.7, 4 and
  4.5 confirm. Some 2026 docs say models from Opus 4.5 / Sonnet 4.6 on keep prior thinking in
  context; no count here settles that (the token-counting docs), so we follow the token-counting page and say
  so in a note whenever history thinking was dropped. A tool loop (assistant → tool results →
  assistant) is one turn, so its thinking is current.
* ``cache_control`` never changes a count.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...registry import ModelInfo
from . import pdf as pdfmod
from . import structured
from . import text as textmod
from . import tools as toolsmod
from .images import base64_image_size, image_tokens

# block types that carry a tool call / a tool's answer, whatever the tool's origin
_CALLS = ("tool_use", "server_tool_use", "mcp_tool_use")
_RESULT_SUFFIX = "tool_result"
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_SKIP_KEYS = ("type", "cache_control", "citations", "id", "tool_use_id", "signature")


@dataclass
class Ctx:
    info: ModelInfo
    fig: dict[str, Any]
    parts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    exact: bool = True
    #: how often each calibrated figure was charged (dotted paths: "tool_result.base", "image", …): what the
    #: estimate rests on, from which its range is derived
    uses: Counter[str] = field(default_factory=Counter)
    #: the tokens each figure charged in all (its value times its uses)
    charged: Counter[str] = field(default_factory=Counter)
    #: sizes the range needs besides the figures: tokens of images, of PDFs, of content without a rule,
    #: numbers of tool definitions and Anthropic-defined tools
    raw: Counter[str] = field(default_factory=Counter)
    #: what the estimate cannot cost at all (a Files-API upload, MCP servers' tools, context edits): said in the
    #: result's reason, so the number is never taken for the whole
    uncounted: list[str] = field(default_factory=list)
    #: past the estimate's deadline: texts not counted before are costed from their length
    rough: bool = False
    #: characters costed from their length (past the deadline, or a text known to be too slow to tokenize), and
    #: the tokens that gave them (the range widens by them)
    rough_chars: int = 0
    rough_tokens: int = 0

    def count(self, text: str, *, bow: bool = True) -> int:
        version, family = self.info.ctok_version, self.info.tokenizer
        if text and (self.rough or textmod.too_slow(text, version, family, bow, self.exact)):
            hit = textmod.cached(text, version, family, bow, self.exact)
            if hit is not None:
                return hit
            n = textmod.rough_tokens(text)
            self.rough_chars += len(text)
            self.rough_tokens += n
            return n
        return textmod.content_tokens(text, version, family, bow=bow, exact=self.exact)

    def seam(self, left: str, right: str) -> int:
        if self.rough:
            return 0
        return textmod.seam(left, right, self.info.ctok_version, self.info.tokenizer, self.exact)

    def add(self, path: str, n: int) -> None:
        if n:
            self.parts[path] = self.parts.get(path, 0) + int(n)

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def leave_out(self, what: str) -> None:
        """Something only the API can count (it is not here to measure): a note, and part of the reason."""
        if what not in self.uncounted:
            self.uncounted.append(what)
        self.note(f"{what} (only the API can count it)")

    def figure(self, key: str, sub: str | None = None, *, value: int | None = None) -> int:
        """A calibrated figure by dotted path (``value``: one that lives elsewhere, e.g. the model's tool prompt),
        recorded as charged."""
        path = key if sub is None else f"{key}.{sub}"
        if value is None:
            value = self.fig.get(key, 0)
            if sub is not None:
                value = value.get(sub, 0) if isinstance(value, dict) else 0
        self.uses[path] += 1
        self.charged[path] += int(value or 0)
        if value and key in (self.fig.get("carried_over") or ()):
            # no real count measured this figure for this model: say so rather than guess silently
            self.note(
                f"≈ the {key.replace('_', ' ')} figure is not measured for {self.info.id} "
                f"({self.info.tokenizer} tokenizer): carried over from v3"
            )
        return int(value or 0)

    def marker(self, role: str) -> int:
        markers = self.fig.get("turn_marker") or {}
        return int(markers.get(role, markers.get("user", 0)))


# ---- blocks -------------------------------------------------------------------------------------------


def _json_tokens(ctx: Ctx, value: Any, *, ruled: bool = False) -> int:
    """Its JSON (minus ids and signatures) as text: for something we have no rule for (``ruled`` when the
    JSON is the rule, e.g. a tool's input example), whose tokens then widen the estimate's range."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in _SKIP_KEYS}
    try:
        n = ctx.count(json.dumps(value, ensure_ascii=False, sort_keys=True))
    except (TypeError, ValueError):
        n = ctx.count(str(value))
    if not ruled:
        ctx.raw["unruled_tokens"] += n
    return n


def _image(ctx: Ctx, block: dict[str, Any]) -> int:
    src = block.get("source") or {}
    if src.get("type") == "file":
        ctx.leave_out("an image uploaded with the Files API is not counted")
        return 0
    if src.get("type") != "base64" or not isinstance(src.get("data"), str):
        ctx.note(
            f"image with a {src.get('type')!r} source cannot be measured offline (count_tokens rejects "
            "url sources too): counted as 0"
        )
        return 0
    size = base64_image_size(src["data"])
    if size is None:
        ctx.note("an image could not be decoded: counted as 0")
        return 0
    n = image_tokens(size[0], size[1], ctx.info.image_limits())
    ctx.raw["image_tokens"] += n
    return n + ctx.figure("image")


def _document(ctx: Ctx, block: dict[str, Any]) -> int:
    src = block.get("source") or {}
    kind = src.get("type")
    total = ctx.figure("document")
    for key in ("title", "context"):
        # each optional field is its own tagged line in the document's framing: text plus a wrapper
        if isinstance(block.get(key), str) and block[key]:
            total += ctx.count(block[key]) + ctx.figure("document_field", key)
    if kind == "text":
        data = str(src.get("data", ""))
        cit = block.get("citations")
        if isinstance(cit, dict) and cit.get("enabled") and len(_SENTENCE_END.findall(data.strip())) > 1:
            # the API cuts such a document into citable sentences; no real count measured what that adds
            ctx.note("≈ a text document with citations is chunked into sentences: that framing is not counted")
        return total + ctx.count(data)
    if kind == "content":
        content = src.get("content")
        if isinstance(content, str):
            return total + ctx.count(content)
        return total + sum(_block(ctx, b) for b in content or [] if isinstance(b, dict))
    if kind == "base64" and src.get("media_type") == "application/pdf":
        if ctx.rough and not pdfmod.already_read(str(src.get("data", ""))):
            # past the deadline: reading it could take the PDF worker's own 10 s more
            ctx.leave_out("a PDF the offline estimate ran out of time to read")
            return total
        cost = pdfmod.pdf_cost(str(src.get("data", "")), ctx.info.image_limits(), ctx.count)
        if cost is None:
            ctx.note("a PDF could not be read (encrypted or malformed): counted as 0")
            return total
        ctx.note(
            f"PDF ({cost.pages} page(s)) is the coarsest part: extracted text plus each page as an image "
            f"at an assumed {pdfmod.RENDER_DPI} dpi"
        )
        ctx.raw["pdf_tokens"] += cost.text_tokens + cost.image_tokens
        return total + cost.text_tokens + cost.image_tokens
    if kind == "base64" and str(src.get("media_type", "")).startswith("text/"):
        import base64
        import binascii

        try:
            decoded = base64.b64decode(str(src.get("data", ""))).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = ""
        return total + ctx.count(decoded)
    if kind == "file":
        ctx.leave_out("a document uploaded with the Files API is not counted")
        return total
    ctx.note(f"document with a {kind!r} source cannot be measured offline: counted as 0")
    return total


def _tool_result(ctx: Ctx, block: dict[str, Any]) -> int:
    # ``adjust``: a model whose tool loops run a token off its family's (0 unless measured)
    total = ctx.figure("tool_result", "base") + ctx.figure("tool_result", "adjust")
    if block.get("is_error"):
        total += ctx.figure("tool_result", "error")
    content = block.get("content")
    if isinstance(content, str):
        total += ctx.count(content)
    elif isinstance(content, list):
        for inner in content:
            if isinstance(inner, dict):  # each block of a list content is wrapped on its own
                total += _block(ctx, inner) + ctx.figure("tool_result", "block")
                if inner.get("type") == "image":  # and an image there is wrapped once more
                    total += ctx.figure("tool_result", "image")
    elif content is not None:
        total += _json_tokens(ctx, content)
    return total


def _search_result(ctx: Ctx, block: dict[str, Any]) -> int:
    total = ctx.figure("search_result")
    for key in ("title", "source"):
        if isinstance(block.get(key), str):
            total += ctx.count(block[key])
    for inner in block.get("content") or []:
        if isinstance(inner, dict):
            total += _block(ctx, inner)
    return total


def _block(ctx: Ctx, block: dict[str, Any], *, current_turn: bool = True) -> int:
    """Tokens of one content block (not counting seams with its neighbours)."""
    kind = block.get("type")
    if kind == "text":
        return ctx.count(str(block.get("text", "")))
    if kind == "image":
        return _image(ctx, block)
    if kind == "document":
        return _document(ctx, block)
    if kind == "search_result":
        return _search_result(ctx, block)
    if kind in _CALLS:
        return toolsmod.tool_use_tokens(block, ctx.figure, ctx.count)
    if isinstance(kind, str) and kind.endswith(_RESULT_SUFFIX):
        return _tool_result(ctx, block)
    if kind == "thinking":
        if not current_turn:
            ctx.note("thinking blocks of previous assistant turns are not counted (token-counting docs)")
            return 0
        return ctx.count(str(block.get("thinking", ""))) + ctx.figure("thinking")
    if kind == "redacted_thinking":
        if current_turn:
            ctx.note("redacted thinking cannot be measured offline: counted as 0")
        return 0
    if kind == "container_upload":
        ctx.leave_out("a file uploaded to the code-execution container is not counted")
        return 0
    ctx.note(f"content block type {kind!r} has no rule: counted as its JSON")
    return _json_tokens(ctx, block)


# ---- system, tools, output format ---------------------------------------------------------------------


def _system(ctx: Ctx, system: Any) -> None:
    if isinstance(system, str):
        texts = [system]
    elif isinstance(system, list):
        texts = [str(b.get("text", "")) for b in system if isinstance(b, dict) and b.get("type", "text") == "text"]
        others = [b for b in system if not (isinstance(b, dict) and b.get("type", "text") == "text")]
        for b in others:
            ctx.add("/system", _json_tokens(ctx, b))
    else:
        return
    texts = [t for t in texts if t]
    if not texts:
        return
    # The system prompt opens the prompt, so no word boundary precedes it. Some models put a fixed
    # prefix before it (``system_prefix``, a newline on the 4.6 generation), tokenized with it.
    total = ctx.count(str(ctx.fig.get("system_prefix", "")) + texts[0], bow=False)
    for prev, cur in itertools.pairwise(texts):
        total += ctx.count(cur) + ctx.seam(prev, cur)
    ctx.add("/system", total)
    ctx.add("/frame", ctx.figure("system"))


def _tools(ctx: Ctx, body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return
    total = 0
    # an MCP tool set stands for tools the API reads from the server (left out with mcp_servers)
    tools = [t for t in tools if not (isinstance(t, dict) and t.get("type") == "mcp_toolset")]
    if not tools:
        return
    loaded = [t for t in tools if isinstance(t, dict) and not t.get("defer_loading")]
    if len(loaded) < len(tools):
        # tool search: deferred definitions stay out of the prompt until the model discovers them
        ctx.note(f"{len(tools) - len(loaded)} deferred tool definition(s) (defer_loading) not counted")
        total += ctx.figure("deferred_tools")
    for i, tool in enumerate(loaded):
        kind = tool.get("type")
        if kind in (None, "custom") or "input_schema" in tool:
            ctx.raw["tool_definitions"] += 1
            total += ctx.count(toolsmod.definition_text(tool))
            examples = tool.get("input_examples")
            if isinstance(examples, list) and examples:
                total += ctx.figure("input_examples", "base")
                for ex in examples:
                    total += ctx.figure("input_examples", "per_example") + _json_tokens(ctx, ex, ruled=True)
        else:
            ctx.raw["anthropic_tools"] += 1
            fixed, note = toolsmod.anthropic_tool_cost(tool, ctx.fig)
            if fixed < 0:
                fixed = _json_tokens(ctx, tool)
            if note:
                ctx.note(note)
            total += fixed
        if i:
            total += ctx.figure("tools", "join")
    ctx.add("/tools", total + ctx.figure("tools", "base"))
    overhead, notes = toolsmod.overhead(body, ctx.info, ctx.figure, ctx.count)
    ctx.add("/tool_overhead", overhead)
    for n in notes:
        ctx.note(n)


def _output_format(ctx: Ctx, body: dict[str, Any]) -> None:
    for path, fmt in structured.schema_format(body):
        text = structured.schema_text(fmt.get("schema", {}))
        ctx.add(path, ctx.figure("structured_output", "base") + ctx.count(text))


# ---- messages -----------------------------------------------------------------------------------------


def _blocks(content: Any) -> list[tuple[str, dict[str, Any]]]:
    """(JSON-pointer suffix, block) pairs; a string content is one text block at ``/content``."""
    if isinstance(content, str):
        return [("/content", {"type": "text", "text": content})]
    if isinstance(content, list):
        return [(f"/content/{j}", b) for j, b in enumerate(content) if isinstance(b, dict)]
    return []


def _current_turn_start(messages: list[dict[str, Any]]) -> int:
    """Index of the first message of the current assistant turn: everything after the last user
    message that says something other than tool results (a tool loop is one assistant turn)."""
    last_human = -1
    for i, m in enumerate(messages):
        if m.get("role") == "user":
            blocks = [b for _, b in _blocks(m.get("content"))]
            if not blocks or any(not str(b.get("type", "")).endswith(_RESULT_SUFFIX) for b in blocks):
                last_human = i
    return last_human + 1


def _messages(ctx: Ctx, messages: list[dict[str, Any]]) -> None:
    current = _current_turn_start(messages)
    prev_role: str | None = None
    for i, msg in enumerate(messages):
        role = str(msg.get("role", "user"))
        if prev_role is None:
            if role != "user":  # the frame opens with a (here empty) user turn
                ctx.add("/frame", ctx.marker(role))
        elif role != prev_role:
            ctx.add("/frame", ctx.marker(role))
        else:
            ctx.add("/frame", ctx.figure("same_role_join"))
        prev_role = role
        calls = sum(1 for _, b in _blocks(msg.get("content")) if b.get("type") in _CALLS)
        if calls > 1:  # parallel calls in one turn cost more than the same calls made one at a time
            ctx.add("/frame", ctx.figure("tool_use", "parallel_base"))
            for _ in range(calls - 1):
                ctx.add("/frame", ctx.figure("tool_use", "parallel_call"))
        prev_text: str | None = None
        for suffix, block in _blocks(msg.get("content")):
            path = f"/messages/{i}{suffix}"
            ctx.add(path, _block(ctx, block, current_turn=(role == "assistant" and i >= current)))
            is_text = block.get("type") == "text" and isinstance(block.get("text"), str)
            if is_text and prev_text is not None:
                ctx.add("/frame", ctx.seam(prev_text, block["text"]))
            prev_text = block["text"] if is_text else None
            ctx.parts.setdefault(path, 0)  # every block gets its entry, even at 0 tokens
    if prev_role == "assistant":  # a prefill: the frame's closing assistant marker is this turn's
        ctx.add("/frame", -ctx.marker("assistant"))


def _citations_enabled(value: Any) -> bool:
    """Whether any document or search result in the body turns citations on."""
    if isinstance(value, dict):
        cit = value.get("citations")
        if isinstance(cit, dict) and cit.get("enabled") and value.get("type") in ("document", "search_result"):
            return True
        return any(_citations_enabled(v) for k, v in value.items() if k in ("content", "messages", "source"))
    if isinstance(value, list):
        return any(_citations_enabled(v) for v in value)
    return False


def build(body: dict[str, Any], info: ModelInfo, fig: dict[str, Any], exact: bool, rough: bool = False) -> Ctx:
    ctx = Ctx(info, fig, exact=exact, rough=rough)
    ctx.parts["/frame"] = int(fig.get("message_frame", 0))
    _system(ctx, body.get("system"))
    _tools(ctx, body)
    _output_format(ctx, body)
    thinking = body.get("thinking")
    forced = bool(body.get("tools")) and toolsmod.choice_kind(body) in ("any", "tool")
    if isinstance(thinking, dict) and isinstance(thinking.get("type"), str) and not forced:
        # enabling thinking adds a short instruction to the prompt; a tool_choice that forces a tool rules
        # thinking out (the docs: thinking works with tool_choice auto or none only), and the real counts of
        # such requests carry no instruction
        ctx.add("/frame", ctx.figure("thinking_config", thinking["type"]))
    if body.get("mcp_servers"):
        # the servers' tool definitions are fetched by the API from the servers themselves
        ctx.leave_out("the tools of the MCP servers (mcp_servers) are not counted")
    if body.get("context_management"):
        ctx.leave_out("context editing (context_management) is not applied: this is the count before its edits")
    config = body.get("output_config")
    if isinstance(config, dict) and isinstance(config.get("task_budget"), dict):
        ctx.add("/frame", ctx.figure("task_budget"))
    messages = body.get("messages")
    if isinstance(messages, list):
        if _citations_enabled(messages):
            # one set of citation instructions joins the prompt, however many sources enable them
            ctx.add("/frame", ctx.figure("citations"))
        _messages(ctx, [m for m in messages if isinstance(m, dict)])
    return ctx
