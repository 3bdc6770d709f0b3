"""The answer: a token count, whether it is exact, where it came from, and what it means (cost, window)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .display import render_total
from .formatting import edited_note, format_cost, format_likely, format_share, format_tokens

Source = Literal["api", "offline", "cache"]


@dataclass(frozen=True)
class TokenCount:
    """One count. ``exact`` is True only for a number the API returned (directly or from the cache of
    API answers); estimates carry a ``reason`` saying why they are not exact."""

    input_tokens: int
    exact: bool
    source: Source
    model: str
    reason: str | None = None
    #: the range meant to hold the real count nine times in ten (the offline estimator's, fitted on real
    #: counts; ``backends/offline/ranges.py``); both equal ``input_tokens`` when the count is exact
    low: int | None = None
    high: int | None = None
    cost_usd: float | None = None
    context_window: int | None = None
    display_name: str | None = None
    #: seconds until an exact count can be tried again (set while rate limited)
    retry_after: float | None = None
    #: an estimate whose exact count is on its way (asked for, not answered yet): ask again shortly
    pending: bool = False
    #: with context editing (``context_management``): what the request counts before its edits are applied,
    #: as the API answers it (``input_tokens`` is after them); None otherwise
    original_input_tokens: int | None = None
    #: estimator details (parts, notes) for estimates; empty for API counts
    detail: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: things the user must know about this count (e.g. an unknown model id estimated with a guessed tokenizer)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.exact:  # an exact count is its own range
            object.__setattr__(self, "low", self.input_tokens)
            object.__setattr__(self, "high", self.input_tokens)

    @property
    def context_fraction(self) -> float | None:
        if not self.context_window:
            return None
        return self.input_tokens / self.context_window

    @property
    def label(self) -> str:
        """``1,234`` or ``≈1,234``: every surface shows an estimate with ≈."""
        return format_tokens(self.input_tokens, self.exact)

    @property
    def likely(self) -> str:
        """``likely 1,228–1,241`` for an estimate (its range), '' for an exact count."""
        return format_likely(self.input_tokens, self.low, self.high, self.exact)

    def __int__(self) -> int:
        return self.input_tokens

    def __index__(self) -> int:
        return self.input_tokens

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("detail")
        d["context_fraction"] = self.context_fraction
        if d["retry_after"] is None:
            del d["retry_after"]
        if not d["pending"]:
            del d["pending"]
        if d["original_input_tokens"] is None:
            del d["original_input_tokens"]
        d["warnings"] = list(self.warnings)
        return d

    def summary(self) -> str:
        """One plain line, for terminals and text-only front ends."""
        edited = edited_note(self.original_input_tokens, self.exact)
        head = f"{self.label} input tokens" + (f" ({self.likely})" if self.likely else "")
        parts = [
            head + (f" ({edited})" if edited else ""),
            self.display_name or self.model,
            format_cost(self.cost_usd),
        ]
        frac = self.context_fraction
        if frac is not None:
            parts.append(f"{format_share(frac)} of {format_tokens(self.context_window or 0, True)}-token window")
        line = " · ".join(parts)
        if not self.exact:
            line += f"  (estimate: {self.reason})" if self.reason else "  (estimate)"
        for warning in self.warnings:
            line += f"\n⚠ {warning}"
        return line

    def __repr__(self) -> str:
        kind = "exact" if self.exact else f"estimate: {self.reason or 'offline'}"
        return f"TokenCount({self.label} tokens, model={self.model!r}, {kind}, source={self.source!r})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary())

    def _repr_html_(self) -> str:
        return render_total(self)  # the one HTML card of a count
