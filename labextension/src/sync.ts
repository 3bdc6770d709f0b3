/**
 * The server's copy of a notebook, seen from the browser: what to send after an edit, and the counts after an
 * answer (the protocol is in openapi.yaml, "Editing a notebook"). The first post sends the whole notebook and
 * asks the server to keep it; later posts send only the cells whose fingerprint changed since the last answer
 * (and the ids in order when cells were added, removed or moved), against that answer's state; a delta answer
 * carries only the shares that changed, merged here into the full list. A 409 (the server restarted or dropped
 * its copy) makes the next post whole again. Pure: no JupyterLab imports, unit tested with jest.
 */
import type {
  ICellCount,
  ICellPayload,
  ICellsRequest,
  ICellsResult,
  IStateRef,
  Mode
} from './api';

/** A small, fast 53-bit string hash (two interleaved 32-bit multiplicative hashes). */
export function hashString(text: string, seed = 0): number {
  let h1 = 0x9e3779b1 ^ seed;
  let h2 = 0x85ebca6b ^ seed;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  h1 =
    Math.imul(h1 ^ (h1 >>> 15), 0x2c1b3c6d) ^
    Math.imul(h2 ^ (h2 >>> 13), 0x297a2d39);
  h2 =
    Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b) ^
    Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** One cell as the counter sees it now: its id, the fingerprint of what is counted, and that content. */
export interface ICellState {
  id: string;
  fp: number;
  /** The cell as sent (built only for the cells that are sent). */
  payload(): ICellPayload;
}

/** What a notebook's counts depend on besides its cells. */
export interface ISyncOptions {
  model?: string;
  includeOutputs: boolean;
  mode: Mode;
}

/** A request about to be sent, and what the server will hold once it is answered. */
export interface IPlanned {
  body: ICellsRequest;
  /** The whole notebook (true), or the changes since the last answer. */
  whole: boolean;
  /** Whether anything that is counted differs from the last answer (false: a follow-up of the same content). */
  changed: boolean;
  ids: string[];
  fps: Map<string, number>;
  key: string;
}

/** An answer, with every cell's share (a delta answer merged into the shares already known). */
export interface IAccepted {
  result: ICellsResult;
  /** The cells whose shares changed; null: any may have (a whole answer). */
  cells: Set<string> | null;
  /** Every cell's share by id. */
  counts: ReadonlyMap<string, ICellCount>;
}

export class ServerCopy {
  /** The kept copy the next changes apply to (null: the next post is whole). */
  get state(): IStateRef | null {
    return this._state;
  }

  /** The request for the notebook as it is now. */
  plan(cells: readonly ICellState[], options: ISyncOptions): IPlanned {
    const key = `${options.model ?? ''}|${options.includeOutputs}`;
    const ids = cells.map(c => c.id);
    const fps = new Map<string, number>();
    for (const c of cells) {
      fps.set(c.id, c.fp);
    }
    const common: ICellsRequest = {
      include_outputs: options.includeOutputs,
      mode: options.mode
    };
    if (options.model) {
      common.model = options.model;
    }
    if (!this._state || key !== this._key) {
      const body: ICellsRequest = {
        ...common,
        cells: cells.map(c => c.payload()),
        keep: true
      };
      if (this._state) {
        body.replaces = this._state.id; // the copy made for other settings is of no further use
      }
      return { body, whole: true, changed: true, ids, fps, key };
    }
    const changes = cells.filter(c => this._fps.get(c.id) !== c.fp);
    const moved = !sameIds(ids, this._ids);
    const body: ICellsRequest = {
      ...common,
      base: this._state,
      changes: changes.map(c => c.payload())
    };
    if (moved) {
      body.order = ids;
    }
    return {
      body,
      whole: false,
      changed: changes.length > 0 || moved,
      ids,
      fps,
      key
    };
  }

  /** The answer to `planned`: the server now holds what it says, and the shares are complete. */
  accept(planned: IPlanned, answer: ICellsResult): IAccepted {
    let changed: Set<string> | null = null;
    if (planned.whole || !answer.delta) {
      this._counts = new Map(answer.cells.map(c => [c.id, c]));
    } else {
      changed = new Set();
      for (const c of answer.cells) {
        this._counts.set(c.id, c);
        changed.add(c.id);
      }
    }
    const cells: ICellCount[] = [];
    for (const id of planned.ids) {
      const c = this._counts.get(id);
      if (c) {
        cells.push(c);
      }
    }
    if (cells.length !== this._counts.size) {
      // cells were deleted: forget their shares
      const kept = new Set(planned.ids);
      for (const id of [...this._counts.keys()]) {
        if (!kept.has(id)) {
          this._counts.delete(id);
        }
      }
    }
    this._state = answer.state ?? null;
    this._ids = planned.ids;
    this._fps = planned.fps;
    this._key = planned.key;
    return {
      result: { ...answer, cells },
      cells: changed,
      counts: this._counts
    };
  }

  /** The server has no copy any more (409): the next post sends the whole notebook. */
  reset(): void {
    this._state = null;
  }

  private _state: IStateRef | null = null;
  private _key = '';
  private _ids: string[] = [];
  private _fps = new Map<string, number>();
  private _counts = new Map<string, ICellCount>();
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

/** Whether an error says the server cannot follow the changes (send the whole notebook). */
export function isStateConflict(err: {
  status?: number;
  type?: string;
}): boolean {
  return err.status === 409 && err.type === 'state_conflict';
}
