/**
 * Per-notebook counting state, shared by the badges, the status bar and the sidebar.
 *
 * Strategy: every edit restarts a debounce timer; when typing pauses the whole notebook is posted
 * to `/cells` twice at most. The first post asks for an answer at once (`deadline_ms: 0`): every
 * cell's share from the server's offline tokenizer, and the total if it is cached. If the exact
 * total is still on its way (`pending`), the second post waits for it: the server counts the
 * notebook as one request, once per distinct content, whoever asks. The client fingerprints every
 * cell and skips the request entirely when nothing that affects the count changed (re-executions,
 * metadata edits, focus changes), and it keeps at most one request in flight per notebook: edits
 * made meanwhile are folded into one trailing request instead of queueing one request per pause.
 * An answer that is not final (rate limited, exact cell counts still queued) is refreshed later
 * by a follow-up, which costs the server cache lookups, not upstream requests.
 */
import { ICellModel } from '@jupyterlab/cells';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import {
  asTokenCountError,
  ICellCount,
  ICellPayload,
  ICellsRequest,
  ICellsResult,
  TokenCountAPI,
  TokenCountError
} from './api';
import { ModelCatalog } from './catalog';
import { TokenCountSettings } from './settings';

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

/** Whether a cell's change (a `CellChange` of @jupyter/ydoc) touched its source only (typing). */
function isSourceOnly(change: { [key: string]: unknown }): boolean {
  return (
    change.sourceChange !== undefined &&
    Object.entries(change).every(
      ([key, value]) => key === 'sourceChange' || value === undefined
    )
  );
}

interface ISnapshot {
  request: ICellsRequest;
  signature: number;
  fingerprints: Map<string, number>;
}

/**
 * Counting state of one open notebook.
 */
export class NotebookCounter implements IDisposable {
  constructor(options: NotebookCounter.IOptions) {
    this.panel = options.panel;
    this._api = options.api;
    this._settings = options.settings;
    this._catalog = options.catalog;
    this._settings.changed.connect(this._onSettings, this);
    void this.panel.context.ready.then(() => {
      if (this._disposed) {
        return;
      }
      this._connectModel(this.panel.content.model);
      this.panel.content.modelChanged.connect(
        () => this._connectModel(this.panel.content.model),
        this
      );
      // Saving is a pause too: count the exact total now (before a close that often follows), so the
      // saved notebook's total is cached when it is opened again.
      this.panel.context.saveState.connect((_, state) => {
        if (state === 'completed' && this._result && !this._result.exact) {
          window.clearTimeout(this._timer);
          window.clearTimeout(this._followTimer);
          this._lastSignature = null;
          this._exactDue = true;
          void this._run();
        }
      }, this);
      this.schedule(0);
    });
    this.panel.disposed.connect(() => this.dispose());
  }

  readonly panel: NotebookPanel;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  get result(): ICellsResult | null {
    return this._result;
  }

  get error(): TokenCountError | null {
    return this._error;
  }

  /** Tokens of one cell (by cell model id), or undefined before its first count. */
  cellCount(id: string): ICellCount | undefined {
    return this._counts.get(id);
  }

  /** Whether the cell changed since its displayed count was computed. */
  isPending(id: string): boolean {
    return this._pending.has(id);
  }

  /** Restart the debounce timer; `delay` defaults to the debounce setting. */
  schedule(delay?: number): void {
    if (this._disposed) {
      return;
    }
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(
      () => void this._run(),
      delay ?? this._settings.config.debounce
    );
  }

  /** Recount now even if nothing changed (the "recount" command). */
  recount(): void {
    this._lastSignature = null;
    this.schedule(0);
  }

  /** The request body for the notebook's current content. */
  buildRequest(): ICellsRequest {
    return this._snapshot().request;
  }

  /** Count the current content with another model without touching this counter's state (the total
   * only matters there: no exact per-cell counts are queued for it). */
  countWith(model: string): Promise<ICellsResult> {
    return this._api.cells({
      ...this._snapshot(model).request,
      cell_counts: false
    });
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    window.clearTimeout(this._followTimer);
    Signal.clearData(this); // disconnects its settings, model and cell connections too
  }

  private _connectModel(model: INotebookModel | null): void {
    if (!model || model === this._model) {
      return;
    }
    this._model = model;
    const watch = (cell: ICellModel) => {
      if (!this._watched.has(cell)) {
        this._watched.add(cell);
        // The shared model says what changed (typing is a source-only change); it is cleared,
        // and this connection with it, when the cell is deleted.
        cell.sharedModel.changed.connect(
          (_, change) => this._onCellChange(cell, change),
          this
        );
      }
    };
    for (let i = 0; i < model.cells.length; i++) {
      watch(model.cells.get(i));
    }
    model.cells.changed.connect((_, change) => {
      if (this._disposed) {
        return;
      }
      change.newValues.forEach(watch);
      this._edited = true;
      this.schedule();
    }, this);
  }

  private _onCellChange(
    cell: ICellModel,
    change: { [key: string]: unknown }
  ): void {
    if (this._disposed) {
      return;
    }
    if (!isSourceOnly(change)) {
      this._outputs.delete(cell);
    }
    // Execution counts, metadata and (unless counted) outputs also fire this signal; only a
    // change to what is counted marks the badge as stale and restarts the debounce.
    const fp = this._fingerprint(cell, this._settings.config.includeOutputs).fp;
    if (fp === this._counted.get(cell.id)) {
      if (this._pending.delete(cell.id)) {
        this._changed.emit();
      }
      return;
    }
    if (!this._pending.has(cell.id)) {
      this._pending.add(cell.id);
      this._changed.emit();
    }
    this._edited = true;
    this.schedule();
  }

  private _fingerprint(
    cell: ICellModel,
    includeOutputs: boolean
  ): { payload: ICellPayload; fp: number } {
    const type = cell.type as ICellPayload['cell_type'];
    const payload: ICellPayload = {
      id: cell.id,
      cell_type: type,
      source: cell.sharedModel.getSource()
    };
    let fp = hashString(payload.source, type.length);
    if (includeOutputs && type === 'code') {
      // Serialising outputs (images included) costs milliseconds: done once per outputs change,
      // not on every keystroke.
      let outputs = this._outputs.get(cell);
      if (!outputs) {
        const json = (cell.toJSON() as any).outputs ?? [];
        outputs = { json, hash: hashString(JSON.stringify(json)) };
        this._outputs.set(cell, outputs);
      }
      payload.outputs = outputs.json;
      fp = hashString(String(outputs.hash), fp);
    }
    return { payload, fp };
  }

  private _onSettings(_: TokenCountSettings, keys: string[]): void {
    if (keys.some(k => ['model', 'mode', 'includeOutputs'].includes(k))) {
      this.schedule(0);
    }
  }

  private _snapshot(model?: string): ISnapshot {
    const config = this._settings.config;
    const cells: ICellPayload[] = [];
    const fingerprints = new Map<string, number>();
    const cellModels = this._model?.cells;
    let signature = hashString(
      `${model ?? this._catalog.effectiveModel(config.model) ?? ''}|${config.mode}|${config.includeOutputs}`
    );
    const n = cellModels?.length ?? 0;
    for (let i = 0; i < n; i++) {
      const cell = cellModels!.get(i);
      const { payload, fp } = this._fingerprint(cell, config.includeOutputs);
      cells.push(payload);
      fingerprints.set(cell.id, fp);
      signature = hashString(`${cell.id}:${fp}`, signature);
    }
    const request: ICellsRequest = {
      cells,
      include_outputs: config.includeOutputs,
      mode: config.mode
    };
    const chosen = model ?? this._catalog.effectiveModel(config.model);
    if (chosen) {
      request.model = chosen;
    }
    return { request, signature, fingerprints };
  }

  private async _run(): Promise<void> {
    if (this._disposed || !this._model) {
      return;
    }
    if (this._inFlight) {
      // One request at a time: the edits made meanwhile go out together when it returns.
      this._rerun = true;
      return;
    }
    this._inFlight = true;
    try {
      if (!this._catalog.models) {
        // The registry names the default model (and prices for tooltips); without it the
        // server's default applies, so a failure here does not stop counting.
        await this._catalog.load().catch(() => undefined);
        if (this._disposed) {
          return;
        }
      }
      const snap = this._snapshot();
      if (snap.signature === this._lastSignature) {
        // Edited and changed back: nothing to count, but the pending marks may go.
        if (this._settlePending(snap.fingerprints)) {
          this._changed.emit();
        }
        return;
      }
      if (snap.signature !== this._followedSignature) {
        // new content: follow-ups back off afresh (a follow-up of the same content keeps backing off)
        this._followUps = 0;
        this._followedSignature = snap.signature;
      }
      window.clearTimeout(this._followTimer);
      const typing = this._edited && !this._exactDue;
      this._edited = this._exactDue = false;
      // At once: the shares (and the total when it is known), so badges follow typing. While typing the
      // API is not asked for the total: that waits for a longer pause (one request per pause, not per burst).
      let result = await this._api.cells({
        ...snap.request,
        deadline_ms: 0,
        exact_total: !typing
      });
      if (this._disposed) {
        return;
      }
      this._apply(result, snap);
      if (result.pending && !typing) {
        // The exact total was asked for by the first post: this one waits for it (no new upstream count).
        result = await this._api.cells(snap.request);
        if (this._disposed) {
          return;
        }
        this._apply(result, snap);
      }
      this._followUp(result, snap.signature, typing);
    } catch (err) {
      if (this._disposed) {
        return;
      }
      this._error = asTokenCountError(err);
      this._lastSignature = null;
      this._changed.emit();
    } finally {
      this._inFlight = false;
      if (this._rerun && !this._disposed) {
        this._rerun = false;
        this.schedule(0);
      }
    }
  }

  /** Ask again later when the answer is not final: an exact total still on its way or paused by a rate
   * limit, or exact per-cell counts still queued on the server (backing off: 1 s, 2 s, … 30 s). */
  private _followUp(
    result: ICellsResult,
    signature: number,
    typing: boolean
  ): void {
    let delay: number | null = null;
    if (!result.exact && result.pending) {
      // after an edit: the exact total once typing has paused long enough; else the API is answering
      delay = typing ? this._settings.config.exactTotalDelay : 2000;
      if (typing) {
        this._followTimer = window.setTimeout(() => {
          if (this._lastSignature === signature) {
            this._lastSignature = null;
            this._exactDue = true;
            this.schedule(0);
          }
        }, delay);
        return;
      }
    } else if (!result.exact && result.retry_after) {
      delay = Math.min(60, result.retry_after) * 1000 + 250;
    } else if (result.cells_pending > 0) {
      delay = Math.min(30000, 1000 * 2 ** this._followUps++);
    }
    if (delay === null) {
      return;
    }
    this._followTimer = window.setTimeout(() => {
      if (this._lastSignature === signature) {
        this._lastSignature = null; // same content: count it again anyway
        this.schedule(0);
      }
    }, delay);
  }

  private _apply(result: ICellsResult, snap: ISnapshot): void {
    const counts = new Map<string, ICellCount>();
    for (const c of result.cells) {
      counts.set(c.id, c);
    }
    this._counts = counts;
    this._counted = snap.fingerprints;
    this._result = result;
    this._error = null;
    this._lastSignature = snap.signature;
    this._settlePending(snap.fingerprints);
    this._changed.emit();
  }

  /** Clear the pending mark of cells whose content is what was just counted; true if any. */
  private _settlePending(sent: Map<string, number>): boolean {
    if (!this._pending.size) {
      return false;
    }
    const includeOutputs = this._settings.config.includeOutputs;
    const pending = this._pending;
    this._pending = new Set();
    const cells = this._model?.cells;
    for (let i = 0; i < (cells?.length ?? 0); i++) {
      const cell = cells!.get(i);
      if (
        pending.has(cell.id) &&
        this._fingerprint(cell, includeOutputs).fp !== sent.get(cell.id)
      ) {
        this._pending.add(cell.id); // edited again while this count was in flight
      }
    }
    return this._pending.size < pending.size;
  }

  private _api: TokenCountAPI;
  private _settings: TokenCountSettings;
  private _catalog: ModelCatalog;
  private _model: INotebookModel | null = null;
  private _watched = new WeakSet<ICellModel>();
  /** Serialised outputs of code cells and their hash, kept until the outputs change. */
  private _outputs = new WeakMap<
    ICellModel,
    { json: unknown[]; hash: number }
  >();
  private _counts = new Map<string, ICellCount>();
  private _pending = new Set<string>();
  /** Fingerprints of the content behind the displayed counts. */
  private _counted = new Map<string, number>();
  private _result: ICellsResult | null = null;
  private _error: TokenCountError | null = null;
  private _timer = 0;
  private _followTimer = 0;
  /** Content edited since the last count (the API is not asked for the total while typing). */
  private _edited = false;
  /** The follow-up after typing paused: ask for the exact total even if edits happened meanwhile. */
  private _exactDue = false;
  private _followUps = 0;
  private _followedSignature: number | null = null;
  private _inFlight = false;
  private _rerun = false;
  private _lastSignature: number | null = null;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace NotebookCounter {
  export interface IOptions {
    panel: NotebookPanel;
    api: TokenCountAPI;
    settings: TokenCountSettings;
    catalog: ModelCatalog;
  }
}

/**
 * One counter per open notebook panel, created when the panel opens and disposed with it.
 */
export class CounterRegistry implements IDisposable {
  constructor(options: Omit<NotebookCounter.IOptions, 'panel'>) {
    this._options = options;
  }

  readonly counterAdded = new Signal<this, NotebookCounter>(this);

  get(panel: NotebookPanel): NotebookCounter {
    let counter = this._counters.get(panel);
    if (!counter || counter.isDisposed) {
      counter = new NotebookCounter({ ...this._options, panel });
      this._counters.set(panel, counter);
      panel.disposed.connect(() => this._counters.delete(panel));
      this.counterAdded.emit(counter);
    }
    return counter;
  }

  find(panel: NotebookPanel | null | undefined): NotebookCounter | undefined {
    return panel ? this._counters.get(panel) : undefined;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    this._counters.forEach(c => c.dispose());
    this._counters.clear();
    Signal.clearData(this);
  }

  private _options: Omit<NotebookCounter.IOptions, 'panel'>;
  private _counters = new Map<NotebookPanel, NotebookCounter>();
  private _disposed = false;
}
