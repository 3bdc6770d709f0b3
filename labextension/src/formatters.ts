/**
 * How counts, costs and shares of the context window read on every surface of the extension.
 *
 * Pure (no JupyterLab imports) so that jest can test it directly. Where Python formats the same thing
 * (`jupyter_token_count/formatting.py`), the rule is Python's and both sides check the same pinned examples
 * (`tests/fixtures/format_examples.json`).
 */
import type { IStatus } from './api';

/** The share of the context window from which surfaces warn (Python: `formatting.WARN_FRACTION`). */
export const WARN_FRACTION = 0.8;

/** Whether a share of the context window is high enough to warn about (Python compares with `>=`). */
export function isOverWarning(fraction: number | null | undefined): boolean {
  return (
    fraction !== null && fraction !== undefined && fraction >= WARN_FRACTION
  );
}

/** The share of the context window a result takes, as the server computed it (null when unknown). */
export function contextFraction(r: {
  context_fraction?: number | null;
}): number | null {
  return r.context_fraction ?? null;
}

/** An integer with thousands separators, whatever the browser's locale. */
export function formatTokens(n: number): string {
  return groupThousands(Math.round(n).toString());
}

/** A token count as every view shows it: `≈` marks an estimate (Python: `formatting.format_tokens`). */
export function formatCount(tokens: number, exact: boolean): string {
  return `${exact ? '' : '≈'}${formatTokens(tokens)}`;
}

/**
 * How far an estimate may be off, in words (Python: `formatting.format_likely`): `likely 1,228–1,241` (the range
 * that holds the real count nine times in ten), `likely exact` when that range is the estimate alone, '' for
 * an exact count or an estimate without a range.
 */
export function formatLikely(
  tokens: number,
  low: number | null | undefined,
  high: number | null | undefined,
  exact: boolean
): string {
  if (
    exact ||
    low === null ||
    low === undefined ||
    high === null ||
    high === undefined
  ) {
    return '';
  }
  if (low === tokens && high === tokens) {
    return 'likely exact';
  }
  return `likely ${formatTokens(low)}–${formatTokens(high)}`;
}

/** The range as a line of its own, for tooltips and the panel: `Likely 1,228–1,241 (9 times in 10)`; ''. */
export function describeRange(
  tokens: number,
  low: number | null | undefined,
  high: number | null | undefined,
  exact: boolean
): string {
  const likely = formatLikely(tokens, low, high, exact);
  return likely
    ? `${likely[0].toUpperCase()}${likely.slice(1)}: the real count is in this range 9 times in 10`
    : '';
}

/** A count with its range where it has one: `≈1,234, likely 1,228–1,241` (Python: `formatting.format_estimate`). */
export function formatEstimate(
  tokens: number,
  low: number | null | undefined,
  high: number | null | undefined,
  exact: boolean
): string {
  const likely = formatLikely(tokens, low, high, exact);
  return formatCount(tokens, exact) + (likely ? `, ${likely}` : '');
}

/**
 * What a count with context editing adds after its number: `after context editing, 5,678 before`, or '' without
 * one (Python: `formatting.edited_note`). The number is the API's count before the edits (`original_input_tokens`).
 */
export function describeEditing(
  original: number | null | undefined,
  exact: boolean
): string {
  return original === null || original === undefined
    ? ''
    : `after context editing, ${formatCount(original, exact)} before`;
}

/**
 * A cost in US dollars, by the rule of Python's `formatting.format_cost`: six decimals below a cent, four
 * below a dollar (trailing zeros dropped), else cents with thousands separators.
 */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) {
    return 'cost unknown';
  }
  if (usd === 0) {
    return '$0';
  }
  if (usd < 0.01) {
    return usd >= 1e-6
      ? `$${trimZeros(toFixedHalfEven(usd, 6))}`
      : '<$0.000001';
  }
  if (usd < 1) {
    return `$${trimZeros(toFixedHalfEven(usd, 4))}`;
  }
  return `$${groupThousands(toFixedHalfEven(usd, 2))}`;
}

/**
 * A share (of the context window, of a total) as a percentage, by the rule of Python's
 * `formatting.format_share`: one decimal without a trailing `.0` (`0.6%`, `12.5%`, `80%`, `1,250%`), `<0.1%`
 * for a share too small for that but not nothing, never rounded across 100% (`99.9%` fits, `100.1%` does
 * not); '' when unknown.
 */
export function formatPercent(fraction: number | null | undefined): string {
  if (
    fraction === null ||
    fraction === undefined ||
    !Number.isFinite(fraction)
  ) {
    return '';
  }
  const pct = fraction * 100;
  if (pct > 0 && pct < 0.1) {
    return '<0.1%';
  }
  let text = toFixedHalfEven(pct, 1);
  const shown = Number(text);
  if (pct < 100 && shown >= 100) {
    text = '99.9';
  } else if (pct > 100 && shown <= 100) {
    text = '100.1';
  }
  return `${groupThousands(text).replace(/\.0$/, '')}%`;
}

/** Why a count is an estimate (or that it is exact), in words a user can act on. */
export function describeExactness(
  exact: boolean,
  reason: string | null | undefined,
  status: IStatus | null
): string {
  if (exact) {
    return reason
      ? `Exact: ${reason}`
      : 'Exact: counted by the Anthropic count_tokens API';
  }
  let why = reason?.trim();
  if (!why && status && status.mode !== 'offline' && status.key_configured) {
    why = 'the exact count is on its way';
  }
  if (!why && status) {
    if (status.mode === 'offline') {
      why = 'offline mode';
    } else if (!status.key_configured) {
      why = 'no API key configured on the server';
    }
  }
  return `≈ Estimate${why ? `: ${why}` : ''}`;
}

/** A cell as its ranking row names it: its first non-blank line, cut to 60 characters. */
export function snippet(source: string): string {
  const line = source
    .split('\n')
    .map(l => l.trim())
    .find(l => l.length > 0);
  if (!line) {
    return '(empty)';
  }
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}

/**
 * `x.toFixed(digits)` with ties rounded to even, as Python's float formatting does. `toFixed` works on
 * the exact binary value too but rounds ties up, so only exact ties (e.g. 0.03125 to 4 digits) differ.
 */
export function toFixedHalfEven(x: number, digits: number): string {
  if (Math.abs(x) >= 1e21) {
    // toFixed switches to exponent notation here; such doubles are whole numbers
    return `${BigInt(x)}${digits > 0 ? `.${'0'.repeat(digits)}` : ''}`;
  }
  const rounded = x.toFixed(digits);
  // 100 digits hold the exact expansion of every double from about 1e-15 up
  const exact = x.toFixed(100);
  const cut = exact.indexOf('.') + (digits > 0 ? 1 + digits : 0);
  if (!/^50*$/.test(exact.slice(cut).replace('.', ''))) {
    return rounded;
  }
  const kept = exact.slice(0, cut);
  const last = Number(kept.replace('.', '').slice(-1));
  return last % 2 === 0 ? kept : rounded;
}

/** Python's `.rstrip("0").rstrip(".")`. */
function trimZeros(fixed: string): string {
  return fixed.replace(/0+$/, '').replace(/\.$/, '');
}

/** Thousands separators in the integer part of a decimal string (Python's `,` format option). */
function groupThousands(fixed: string): string {
  const [whole, fraction] = fixed.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}
