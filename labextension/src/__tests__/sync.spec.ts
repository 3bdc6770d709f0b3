import type { ICellCount, ICellsResult } from '../api';
import {
  hashString,
  ICellState,
  isStateConflict,
  ISyncOptions,
  ServerCopy
} from '../sync';

const options: ISyncOptions = {
  model: 'm',
  includeOutputs: false,
  mode: 'auto'
};

/** Cells as the counter hands them over; `built` records which payloads were asked for. */
function notebook(sources: Record<string, string>, built: string[] = []) {
  return Object.entries(sources).map(([id, source]): ICellState => ({
    id,
    fp: hashString(source),
    payload: () => {
      built.push(id);
      return { id, cell_type: 'code', source };
    }
  }));
}

const share = (id: string, tokens: number): ICellCount => ({
  id,
  tokens,
  low: tokens,
  high: tokens,
  exact: false,
  cell_type: 'code',
  cost_usd: null
});

/** An answer as the server gives it (only the fields the copy reads matter here). */
function answer(
  cells: ICellCount[],
  version: number,
  delta: boolean
): ICellsResult {
  return {
    model: 'm',
    total: 100,
    low: 100,
    high: 100,
    exact: false,
    pending: false,
    joins_and_frame: 3,
    reason: null,
    context_window: 1000,
    cost_usd: null,
    by_type: {},
    cells_pending: 0,
    cells,
    delta,
    state: { id: 's1', version }
  };
}

describe('hashString', () => {
  it('is stable and tells contents apart', () => {
    expect(hashString('print(1)')).toBe(hashString('print(1)'));
    expect(hashString('print(1)')).not.toBe(hashString('print(2)'));
    expect(hashString('abc', 4)).not.toBe(hashString('abc', 3));
    expect(Number.isSafeInteger(hashString('x'.repeat(10000)))).toBe(true);
  });
});

describe('ServerCopy', () => {
  /** A copy that has been answered once for cells a, b, c. */
  function opened() {
    const copy = new ServerCopy();
    const cells = notebook({ a: 'x = 1', b: 'y = 2', c: 'z = 3' });
    const first = copy.plan(cells, options);
    const accepted = copy.accept(
      first,
      answer([share('a', 4), share('b', 5), share('c', 6)], 1, false)
    );
    return { copy, first, accepted };
  }

  it('sends the whole notebook first and asks the server to keep it', () => {
    const { first, accepted, copy } = opened();
    expect(first.whole).toBe(true);
    expect(first.body.keep).toBe(true);
    expect(first.body.cells?.map(c => c.id)).toEqual(['a', 'b', 'c']);
    expect(first.body.model).toBe('m');
    expect(first.body.base).toBeUndefined();
    expect(accepted.cells).toBeNull(); // every badge may have changed
    expect(accepted.result.cells.map(c => c.tokens)).toEqual([4, 5, 6]);
    expect(copy.state).toEqual({ id: 's1', version: 1 });
  });

  it('sends only the edited cell, and nothing when nothing changed', () => {
    const { copy } = opened();
    const built: string[] = [];
    const same = copy.plan(
      notebook({ a: 'x = 1', b: 'y = 2', c: 'z = 3' }, built),
      options
    );
    expect(same.changed).toBe(false);
    expect(same.body.changes).toEqual([]);
    expect(same.body.base).toEqual({ id: 's1', version: 1 });
    const edited = copy.plan(
      notebook({ a: 'x = 1', b: 'y = 22', c: 'z = 3' }, built),
      options
    );
    expect(edited.changed).toBe(true);
    expect(edited.whole).toBe(false);
    expect(edited.body.changes).toEqual([
      { id: 'b', cell_type: 'code', source: 'y = 22' }
    ]);
    expect(edited.body.order).toBeUndefined();
    expect(edited.body.cells).toBeUndefined();
    expect(built).toEqual(['b']); // unchanged cells are not even serialised
  });

  it('merges a delta answer into the shares it has', () => {
    const { copy } = opened();
    const edited = copy.plan(
      notebook({ a: 'x = 1', b: 'y = 22', c: 'z = 3' }),
      options
    );
    const accepted = copy.accept(edited, answer([share('b', 9)], 2, true));
    expect([...accepted.cells!]).toEqual(['b']);
    expect(accepted.result.cells.map(c => [c.id, c.tokens])).toEqual([
      ['a', 4],
      ['b', 9],
      ['c', 6]
    ]);
    expect(accepted.counts.get('b')?.tokens).toBe(9);
    expect(copy.state).toEqual({ id: 's1', version: 2 });
    // the next edit is against the new answer
    const next = copy.plan(
      notebook({ a: 'x = 1', b: 'y = 22', c: 'z = 3' }),
      options
    );
    expect(next.changed).toBe(false);
    expect(next.body.base).toEqual({ id: 's1', version: 2 });
  });

  it('sends the order when cells are added, removed or moved', () => {
    const { copy } = opened();
    const added = copy.plan(
      notebook({ a: 'x = 1', n: 'new()', b: 'y = 2', c: 'z = 3' }),
      options
    );
    expect(added.body.order).toEqual(['a', 'n', 'b', 'c']);
    expect(added.body.changes?.map(c => c.id)).toEqual(['n']);
    const moved = copy.plan(
      notebook({ c: 'z = 3', a: 'x = 1', b: 'y = 2' }),
      options
    );
    expect(moved.changed).toBe(true);
    expect(moved.body.order).toEqual(['c', 'a', 'b']);
    expect(moved.body.changes).toEqual([]);
    const removed = copy.plan(notebook({ a: 'x = 1', c: 'z = 3' }), options);
    expect(removed.body.order).toEqual(['a', 'c']);
    const accepted = copy.accept(removed, answer([], 2, true));
    expect(accepted.result.cells.map(c => c.id)).toEqual(['a', 'c']);
    expect(accepted.counts.has('b')).toBe(false); // a deleted cell's share is gone
  });

  it('starts a new copy when the model or the outputs switch changes', () => {
    const { copy } = opened();
    const cells = notebook({ a: 'x = 1', b: 'y = 2', c: 'z = 3' });
    const other = copy.plan(cells, { ...options, model: 'other' });
    expect(other.whole).toBe(true);
    expect(other.body.replaces).toBe('s1'); // the old copy is dropped, not left to expire
    expect(copy.plan(cells, { ...options, includeOutputs: true }).whole).toBe(
      true
    );
    // the mode is not part of the copy: the same copy answers in every mode
    expect(copy.plan(cells, { ...options, mode: 'offline' }).whole).toBe(false);
  });

  it('sends the whole notebook again after the server lost its copy', () => {
    const { copy } = opened();
    copy.reset();
    const again = copy.plan(
      notebook({ a: 'x = 1', b: 'y = 2', c: 'z = 3' }),
      options
    );
    expect(again.whole).toBe(true);
    expect(again.body.base).toBeUndefined();
    expect(again.body.replaces).toBeUndefined();
    expect(again.body.cells).toHaveLength(3);
  });

  it('recognises the conflict answer', () => {
    expect(isStateConflict({ status: 409, type: 'state_conflict' })).toBe(true);
    expect(
      isStateConflict({ status: 400, type: 'invalid_request_error' })
    ).toBe(false);
    expect(isStateConflict({ status: 409, type: 'other' })).toBe(false);
  });
});
