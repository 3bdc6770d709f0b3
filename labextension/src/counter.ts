/**
 * Per-notebook counting state, shared by the badges, the status bar and the sidebar.
 *
 * Strategy: every edit restarts a debounce timer; when typing pauses the notebook is posted to `/cells`
 * twice at most. The first post asks for an answer at once (`deadline_ms: 0`): the shares from the server's
 * offline tokenizer, and the total if it is cached. If the exact total is still on its way (`pending`), the
 * second post waits for it: the server counts the notebook as one request, once per distinct content,
 * whoever asks. Work follows the edit, not the notebook: the server keeps a copy of the notebook, so a post
 * sends only the cells whose fingerprint changed since the last answer (`ServerCopy`, sync.ts), each cell's
 * fingerprint is recomputed only when the cell changes, and the `changed` signal names the cells whose counts
 * changed so that only their badges are rendered again. No request goes out when nothing that affects the
 * count changed (re-executions, metadata edits, focus changes), and at most one is in flight per notebook:
 * edits made meanwhile are folded into one trailing request. An answer that is not final (rate limited,
 * exact cell counts still queued) is refreshed later by a follow-up, which costs the server cache lookups,
 * not upstream requests.
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
import {
  hashString,
  IAccepted,
  ICellState,
  IPlanned,
  isStateConflict,
  ISyncOptions,
  ServerCopy
} from './sync';

export { hashString } from './sync';

/** Whether a cell's change (a `CellChange` of @jupyter/ydoc) touched its source only (typing). */
function isSourceOnly(change: { [key: string]: unknown }): boolean {
  return (
    change.sourceChange !== undefined &&
    Object.entries(change).every(
      ([key, value]) => key === 'sourceChange' || value === undefined
    )
  );
}

/** A cell's counted content and its fingerprint, kept until the cell changes. */
interface IFingerprint {
  payload: ICellPayload;
  fp: number;
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
          this._lastKey = null;
          this._exactDue = true;
          void this._run();
        }
      }, this);
      this.schedule(0);
    });
    this.panel.disposed.connect(() => this.dispose());
  }

  readonly panel: NotebookPanel;

  /** Emitted when the counts, the total or the error change; it names the cells whose badges changed. */
  get changed(): ISignal<this, NotebookCounter.IChange> {
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

  /** Recount now even if nothing changed (the "recount" command): the whole notebook is sent again. */
  recount(): void {
    this._lastKey = null;
    this._copy.reset();
    this.schedule(0);
  }

  /** The request body for the notebook's current content (the whole notebook). */
  buildRequest(): ICellsRequest {
    return this._wholeRequest();
  }

  /** Count the current content with another model without touching this counter's state (the total
   * only matters there: no exact per-cell counts are queued for it). */
  countWith(model: string): Promise<ICellsResult> {
    return this._api.cells({
      ...this._wholeRequest(model),
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
    this._fingerprints.delete(cell);
    if (!isSourceOnly(change)) {
      this._outputs.delete(cell);
    }
    // Execution counts, metadata and (unless counted) outputs also fire this signal; only a
    // change to what is counted marks the badge as stale and restarts the debounce.
    const fp = this._fingerprint(cell, this._settings.config.includeOutputs).fp;
    if (fp === this._counted.get(cell.id)) {
      if (this._pending.delete(cell.id)) {
        this._changed.emit({ cells: new Set([cell.id]) });
      }
      return;
    }
    if (!this._pending.has(cell.id)) {
      this._pending.add(cell.id);
      this._changed.emit({ cells: new Set([cell.id]) });
    }
    this._edited = true;
    this.schedule();
  }

  /** What is counted of a cell, and its fingerprint: computed when the cell changes, not on every count. */
  private _fingerprint(
    cell: ICellModel,
    includeOutputs: boolean
  ): IFingerprint {
    const known = this._fingerprints.get(cell);
    if (known && known.includeOutputs === includeOutputs) {
      return known;
    }
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
    const entry = { payload, fp, includeOutputs };
    this._fingerprints.set(cell, entry);
    return entry;
  }

  /** Every cell as it is now (fingerprints are kept between counts: this reads, it does not hash). */
  private _cells(includeOutputs: boolean): ICellState[] {
    const cells = this._model?.cells;
    const out: ICellState[] = [];
    for (let i = 0; i < (cells?.length ?? 0); i++) {
      const f = this._fingerprint(cells!.get(i), includeOutputs);
      out.push({ id: f.payload.id, fp: f.fp, payload: () => f.payload });
    }
    return out;
  }

  private _onSettings(_: TokenCountSettings, keys: string[]): void {
    if (keys.some(k => ['model', 'mode', 'includeOutputs'].includes(k))) {
      this.schedule(0);
    }
  }

  private _wholeRequest(model?: string): ICellsRequest {
    const config = this._settings.config;
    const request: ICellsRequest = {
      cells: this._cells(config.includeOutputs).map(c => c.payload()),
      include_outputs: config.includeOutputs,
      mode: config.mode
    };
    const chosen = model ?? this._catalog.effectiveModel(config.model);
    if (chosen) {
      request.model = chosen;
    }
    return request;
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
      const config = this._settings.config;
      const options = {
        model: this._catalog.effectiveModel(config.model),
        includeOutputs: config.includeOutputs,
        mode: config.mode
      };
      const cells = this._cells(config.includeOutputs);
      const planned = this._copy.plan(cells, options);
      const key = `${planned.key}|${config.mode}`;
      if (!planned.changed && key === this._lastKey) {
        // Edited and changed back: nothing to count, but the pending marks may go.
        const settled = this._settlePending(planned.fps);
        if (settled.size) {
          this._changed.emit({ cells: settled });
        }
        return;
      }
      if (planned.changed) {
        this._followUps = 0; // new content: follow-ups back off afresh
      }
      window.clearTimeout(this._followTimer);
      const typing = this._edited && !this._exactDue;
      this._edited = this._exactDue = false;
      // At once: the shares and the total from them (or the exact total when it is cached), so badges follow
      // typing and a large notebook shows its total as soon as its cells are tokenized. While typing the API is
      // not asked for the total: that waits for a longer pause (one request per pause, not per burst).
      let accepted = await this._post(cells, options, {
        deadline_ms: 0,
        exact_total: false
      });
      if (this._disposed) {
        return;
      }
      this._apply(accepted, key);
      if (accepted.result.pending && !typing) {
        // Not typing: the whole notebook's count (one upstream request, cached by content), waited for up to
        // the server's deadline; the same content, so no cells to send.
        accepted = await this._post(cells, options, {});
        if (this._disposed) {
          return;
        }
        this._apply(accepted, key);
      }
      this._followUp(accepted.result, typing);
    } catch (err) {
      if (this._disposed) {
        return;
      }
      this._error = asTokenCountError(err);
      this._lastKey = null;
      this._changed.emit({ cells: null });
    } finally {
      this._inFlight = false;
      if (this._rerun && !this._disposed) {
        this._rerun = false;
        this.schedule(0);
      }
    }
  }

  /** Post the notebook as `cells` says it is: what changed since the server's copy, or all of it when the
   * server has none (a 409: it restarted or dropped the copy, so the whole notebook goes again). */
  private async _post(
    cells: ICellState[],
    options: ISyncOptions,
    extra: Partial<ICellsRequest>
  ): Promise<IAccepted & { planned: IPlanned }> {
    let planned = this._copy.plan(cells, options);
    let answer: ICellsResult;
    try {
      answer = await this._api.cells({ ...planned.body, ...extra });
    } catch (err) {
      if (planned.whole || !isStateConflict(asTokenCountError(err))) {
        throw err;
      }
      this._copy.reset();
      planned = this._copy.plan(cells, options);
      answer = await this._api.cells({ ...planned.body, ...extra });
    }
    return { ...this._copy.accept(planned, answer), planned };
  }

  /** Ask again later when the answer is not final: an exact total still on its way or paused by a rate
   * limit, or exact per-cell counts still queued on the server (backing off: 1 s, 2 s, … 30 s). */
  private _followUp(result: ICellsResult, typing: boolean): void {
    const answers = this._answers;
    let delay: number | null = null;
    if (!result.exact && result.pending) {
      // after an edit: the exact total once typing has paused long enough; else the API is answering
      delay = typing ? this._settings.config.exactTotalDelay : 2000;
      if (typing) {
        this._followTimer = window.setTimeout(() => {
          if (this._answers === answers) {
            this._lastKey = null;
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
      if (this._answers === answers) {
        this._lastKey = null; // same content: count it again anyway
        this.schedule(0);
      }
    }, delay);
  }

  private _apply(
    accepted: IAccepted & { planned: IPlanned },
    key: string
  ): void {
    const { result, planned } = accepted;
    this._counts = accepted.counts;
    this._counted = planned.fps;
    this._result = result;
    this._error = null;
    this._lastKey = key;
    this._answers++;
    const settled = this._settlePending(planned.fps);
    let cells: Set<string> | null = null;
    if (accepted.cells !== null) {
      cells = new Set([...accepted.cells, ...settled]);
    }
    this._changed.emit({ cells });
  }

  /** Clear the pending mark of cells whose content is what was just counted; the cells cleared. */
  private _settlePending(sent: Map<string, number>): Set<string> {
    const settled = new Set<string>();
    if (!this._pending.size) {
      return settled;
    }
    const includeOutputs = this._settings.config.includeOutputs;
    const present = new Set<string>();
    const cells = this._model?.cells;
    for (let i = 0; i < (cells?.length ?? 0); i++) {
      const cell = cells!.get(i);
      if (!this._pending.has(cell.id)) {
        continue;
      }
      present.add(cell.id);
      if (this._fingerprint(cell, includeOutputs).fp === sent.get(cell.id)) {
        settled.add(cell.id); // (else edited again while this count was in flight)
      }
    }
    for (const id of this._pending) {
      if (settled.has(id) || !present.has(id)) {
        this._pending.delete(id);
        settled.add(id);
      }
    }
    return settled;
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
  /** Each cell's counted content and fingerprint, kept until the cell changes. */
  private _fingerprints = new WeakMap<
    ICellModel,
    IFingerprint & { includeOutputs: boolean }
  >();
  /** What the server holds of this notebook, and what to send it next. */
  private _copy = new ServerCopy();
  private _counts: ReadonlyMap<string, ICellCount> = new Map();
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
  /** Answers applied so far: a follow-up is for the answer it was set after, not a later one. */
  private _answers = 0;
  private _inFlight = false;
  private _rerun = false;
  /** The settings and mode of the last answer (null: count again even if nothing changed). */
  private _lastKey: string | null = null;
  private _disposed = false;
  private _changed = new Signal<this, NotebookCounter.IChange>(this);
}

export namespace NotebookCounter {
  /** What changed: the cells whose badges must be rendered again (null: any of them). */
  export interface IChange {
    cells: ReadonlySet<string> | null;
  }

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
