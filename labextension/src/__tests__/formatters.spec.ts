import examples from '../../../tests/fixtures/format_examples.json';
import {
  contextFraction,
  describeEditing,
  describeExactness,
  describeRange,
  formatCost,
  formatCount,
  formatEstimate,
  formatLikely,
  formatPercent,
  isOverWarning,
  snippet,
  toFixedHalfEven,
  WARN_FRACTION
} from '../formatters';
import type { ICellsResult, IStatus } from '../api';

// The same examples are checked against Python's rules by tests/test_formatting.py.
describe('the rules shared with Python', () => {
  it('warns from the same share of the window', () => {
    expect(WARN_FRACTION).toBe(examples.warn_fraction);
  });

  it.each(examples.cost as [number | null, string][])(
    'formats a cost of %p as %p',
    (usd, text) => {
      expect(formatCost(usd)).toBe(text);
    }
  );

  it.each(examples.share as [number | null, string][])(
    'formats a share of %p as %p',
    (fraction, text) => {
      expect(formatPercent(fraction)).toBe(text);
    }
  );

  it.each(examples.edited as [number | null, boolean, string][])(
    'says a count of %p before context editing (exact: %p) as %p',
    (original, exact, text) => {
      expect(describeEditing(original, exact)).toBe(text);
    }
  );

  it.each(examples.count as [number, boolean, string][])(
    'formats %p tokens (exact: %p) as %p',
    (tokens, exact, text) => {
      expect(formatCount(tokens, exact)).toBe(text);
    }
  );

  it.each(
    examples.estimate as [
      number,
      number | null,
      number | null,
      boolean,
      string
    ][]
  )(
    'formats %p tokens in %p–%p (exact: %p) as %p',
    (tokens, low, high, exact, text) => {
      expect(formatEstimate(tokens, low, high, exact)).toBe(text);
    }
  );

  it.each(examples.warning as [number, number | null, boolean][])(
    '%p tokens of a %p-token window warn: %p',
    (tokens, window, warn) => {
      // the server's context_fraction: total / context_window (null when the window is unknown)
      const fraction = window ? tokens / window : null;
      expect(isOverWarning(fraction)).toBe(warn);
    }
  );
});

describe('ranges', () => {
  it('say nothing for an exact count or an estimate without a range', () => {
    expect(formatLikely(10, 10, 10, true)).toBe('');
    expect(formatLikely(10, undefined, null, false)).toBe('');
    expect(describeRange(10, 8, 13, true)).toBe('');
  });

  it('read as a line of their own in tooltips', () => {
    expect(describeRange(1234, 1228, 1241, false)).toBe(
      'Likely 1,228–1,241: the real count is in this range 9 times in 10'
    );
    expect(describeRange(61, 61, 61, false)).toMatch(/^Likely exact: /);
  });
});

describe('formatCost', () => {
  it('says the cost is unknown for anything but a finite number', () => {
    expect(formatCost(undefined)).toBe('cost unknown');
    expect(formatCost(Number.NaN)).toBe('cost unknown');
    expect(formatCost(Number.POSITIVE_INFINITY)).toBe('cost unknown');
  });
});

describe('toFixedHalfEven', () => {
  it('rounds exact ties to even where toFixed rounds them up', () => {
    expect((0.03125).toFixed(4)).toBe('0.0313');
    expect(toFixedHalfEven(0.03125, 4)).toBe('0.0312');
    expect(toFixedHalfEven(0.09375, 4)).toBe('0.0938');
    expect(toFixedHalfEven(2.5, 0)).toBe('2');
    expect(toFixedHalfEven(3.5, 0)).toBe('4');
  });

  it('agrees with toFixed away from ties', () => {
    for (const x of [0.000123, 0.1, 0.7, 1.005, 123.456, 99999.995]) {
      expect(toFixedHalfEven(x, 2)).toBe(x.toFixed(2));
    }
  });

  it('writes numbers past toFixed’s range in full', () => {
    expect(toFixedHalfEven(1e21, 2)).toBe('1000000000000000000000.00');
  });
});

describe('contextFraction', () => {
  it('reads the share the server computed instead of deriving one', () => {
    const r = { total: 10, context_window: 100 } as ICellsResult;
    expect(contextFraction({ ...r, context_fraction: 0.1 })).toBe(0.1);
    expect(contextFraction({ ...r, context_fraction: null })).toBeNull();
  });
});

describe('describeExactness', () => {
  const status = (mode: IStatus['mode'], key: boolean) =>
    ({ mode, key_configured: key }) as IStatus;

  it('gives the reason of an exact count, else the API', () => {
    expect(describeExactness(true, null, null)).toBe(
      'Exact: counted by the Anthropic count_tokens API'
    );
    expect(describeExactness(true, 'empty notebook', null)).toBe(
      'Exact: empty notebook'
    );
  });

  it('marks every estimate with ≈ and says why', () => {
    expect(describeExactness(false, ' rate limited ', null)).toBe(
      '≈ Estimate: rate limited'
    );
    expect(describeExactness(false, null, null)).toBe('≈ Estimate');
    expect(describeExactness(false, '', status('offline', true))).toBe(
      '≈ Estimate: offline mode'
    );
    expect(describeExactness(false, null, status('auto', false))).toBe(
      '≈ Estimate: no API key configured on the server'
    );
    expect(describeExactness(false, null, status('auto', true))).toBe(
      '≈ Estimate: the exact count is on its way'
    );
  });
});

describe('snippet', () => {
  it('names a cell by its first non-blank line, cut to 60 characters', () => {
    expect(snippet('\n   \n  # Title  \nbody')).toBe('# Title');
    expect(snippet(' \n\t')).toBe('(empty)');
    const long = 'x'.repeat(61);
    expect(snippet(long)).toBe(`${'x'.repeat(59)}…`);
    expect(snippet(long.slice(1))).toBe(long.slice(1));
  });
});
