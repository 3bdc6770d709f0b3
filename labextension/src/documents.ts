/**
 * Prompt files wherever JupyterLab shows them, and selections: the document's count and the selected text's,
 * live while typing.
 *
 * A document is counted the same in every view of it: the file editor, the JSON viewer (the default for
 * `.json`), the Markdown preview, and the image and PDF viewers, whose bytes are sent as base64. It is posted to
 * `/document`, which reads it as the CLI reads the file (text as one user message; a `.json` message list or
 * request body as what it holds; an image or a PDF as one user message holding it). While typing, the server answers
 * from its offline tokenizer at once (`exact_total: false`); once typing pauses for `exactTotalDelay`
 * one request asks for the exact count. Only the latest text is ever counted (one request in flight,
 * edits meanwhile fold into one trailing request), and the shown count says ≈ while it is stale. The
 * counting happens on the server: the editor never waits for it.
 */
import type { CodeEditor } from '@jupyterlab/codeeditor';
import { DocumentWidget } from '@jupyterlab/docregistry';
import { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  asTokenCountError,
  DocumentEncoding,
  IDocumentResult,
  ITokenCount,
  TokenCountAPI,
  TokenCountError
} from './api';
import { ModelCatalog } from './catalog';
import type { IComparable, ICompared } from './comparison';
import {
  describeEditing,
  describeExactness,
  formatCost,
  formatCount,
  describeRange,
  formatPercent,
  formatTokens,
  isOverWarning
} from './formatters';
import { TokenCountSettings } from './settings';

/** The text editor of a document widget (the file editor), or null for any other widget. */
export function documentEditor(widget: unknown): CodeEditor.IEditor | null {
  if (!(widget instanceof DocumentWidget)) {
    return null;
  }
  const editor = (widget.content as { editor?: CodeEditor.IEditor }).editor;
  return editor && editor.model && editor.model.sharedModel ? editor : null;
}

/** Where a document's content comes from: a file editor's text, or the document model a viewer shows. */
export interface IDocumentSource {
  /** The content now: its text, or the file's bytes in base64 (see `encoding`). */
  read(): string;
  /** How `read()` gives the content: base64 for files JupyterLab loads as bytes (images, PDFs). */
  encoding(): DocumentEncoding;
  /** Emits when the content may have changed. */
  readonly changed: ISignal<unknown, unknown>;
  /** The text editor of a file editor (its selection is counted too); null for a viewer. */
  readonly editor: CodeEditor.IEditor | null;
}

/**
 * The content of any document widget but a notebook (notebooks have their own counter): the file editor's
 * text, or for a viewer (JSON, Markdown preview, image, PDF, ...) its document model's content. Null for
 * anything else.
 */
export function documentSource(widget: unknown): IDocumentSource | null {
  if (!(widget instanceof DocumentWidget) || widget instanceof NotebookPanel) {
    return null;
  }
  const editor = documentEditor(widget);
  if (editor) {
    return {
      read: () => editor.model.sharedModel.getSource(),
      encoding: () => 'text',
      changed: editor.model.sharedModel.changed,
      editor
    };
  }
  const context = widget.context;
  if (!context?.model) {
    return null;
  }
  return {
    read: () => context.model.toString(),
    encoding: () =>
      context.contentsModel?.format === 'base64' ? 'base64' : 'text',
    changed: context.model.contentChanged,
    editor: null
  };
}

/** The selected text of an editor (every selection range, in order), '' when nothing is selected. */
export function selectedText(editor: CodeEditor.IEditor): string {
  const source = editor.model.sharedModel.getSource();
  const parts: string[] = [];
  for (const range of editor.getSelections()) {
    const a = editor.getOffsetAt(range.start);
    const b = editor.getOffsetAt(range.end);
    if (a !== b) {
      parts.push(source.slice(Math.min(a, b), Math.max(a, b)));
    }
  }
  return parts.join('\n');
}

/** Milliseconds to wait after a change before counting: longer for long documents. */
export function documentDelay(debounce: number, length: number): number {
  return debounce + Math.min(2000, Math.round(length / 1000));
}

/**
 * The count of the text selected in one editor at a time (a file editor's, or a notebook cell's).
 */
export class SelectionCounter implements IDisposable {
  constructor(options: {
    api: TokenCountAPI;
    settings: TokenCountSettings;
    catalog: ModelCatalog;
  }) {
    this._api = options.api;
    this._settings = options.settings;
    this._catalog = options.catalog;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The selection's count; null when nothing is selected. */
  get result(): ITokenCount | null {
    return this._result;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  set editor(editor: CodeEditor.IEditor | null) {
    if (editor === this._editor) {
      return;
    }
    this._editor?.model.selections.changed.disconnect(this._schedule, this);
    this._editor = editor;
    editor?.model.selections.changed.connect(this._schedule, this);
    this._schedule();
  }

  /** Count the selection with this model (null: the configured one). */
  set model(model: string | null) {
    this._model = model;
    this._text = null;
    this._schedule();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    this._editor?.model.selections.changed.disconnect(this._schedule, this);
    Signal.clearData(this);
  }

  private _schedule(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(
      () => void this._run(),
      this._settings.config.debounce
    );
  }

  private async _run(): Promise<void> {
    if (this._disposed) {
      return;
    }
    const text = this._editor ? selectedText(this._editor) : '';
    if (!text.trim()) {
      this._text = null;
      if (this._result) {
        this._result = null;
        this._changed.emit();
      }
      return;
    }
    if (text === this._text) {
      return;
    }
    this._text = text;
    const seq = ++this._seq;
    const config = this._settings.config;
    try {
      const result = await this._api.countText(text, {
        model: this._model ?? this._catalog.effectiveModel(config.model),
        mode: config.mode
      });
      if (seq === this._seq && !this._disposed) {
        this._result = result; // only the latest selection's answer is shown
        this._changed.emit();
      }
    } catch {
      if (seq === this._seq) {
        this._text = null;
      }
    }
  }

  private _api: TokenCountAPI;
  private _settings: TokenCountSettings;
  private _catalog: ModelCatalog;
  private _editor: CodeEditor.IEditor | null = null;
  private _model: string | null = null;
  private _result: ITokenCount | null = null;
  private _text: string | null = null;
  private _seq = 0;
  private _timer = 0;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}

/** A document's count in the comparison's terms. */
function compared(r: IDocumentResult): ICompared {
  const t = r.total;
  return {
    model: t.model,
    total: t.input_tokens,
    exact: t.exact,
    context_fraction: t.context_fraction,
    context_window: t.context_window,
    cost_usd: t.cost_usd
  };
}

/**
 * The count of one document open in JupyterLab: in the file editor or in a viewer.
 */
export class DocumentCounter implements IDisposable, IComparable {
  constructor(options: DocumentCounter.IOptions) {
    this.widget = options.widget;
    this.source = options.source;
    this._api = options.api;
    this._settings = options.settings;
    this._catalog = options.catalog;
    this.source.changed.connect(this._onEdit, this);
    this._settings.changed.connect(this._onSettings, this);
    this.widget.disposed.connect(() => this.dispose());
    // counted once the file is loaded: before that a viewer holds nothing, and not yet its encoding
    void this.widget.context.ready.then(() => this._schedule(0, true));
  }

  readonly widget: DocumentWidget;
  readonly source: IDocumentSource;

  /** The file editor's text editor; null in a viewer. */
  get editor(): CodeEditor.IEditor | null {
    return this.source.editor;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The document's count (total, what it was counted as, the model's context share and cost). */
  get document(): IDocumentResult | null {
    return this._result;
  }

  /** The count in the sidebar comparison's terms (IComparable). */
  get result(): ICompared | null {
    return this._compared;
  }

  /** The last counted text under another model (the sidebar's comparison). */
  async countWith(model: string): Promise<ICompared> {
    const r = await this._api.document({
      name: this.name,
      text: this._text ?? this.source.read(),
      encoding: this.source.encoding(),
      model,
      mode: this._settings.config.mode
    });
    return compared(r);
  }

  /** The file name the server reads the text by (its suffix decides JSON or text). */
  get name(): string {
    return (
      this.widget.context.path.split('/').pop() ?? this.widget.context.path
    );
  }

  get error(): TokenCountError | null {
    return this._error;
  }

  /** Edited since the shown count was made. */
  get stale(): boolean {
    return this._stale;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Count again now, exactly if a key allows (the "recount" command). */
  recount(): void {
    this._text = null;
    this._schedule(0, true);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    window.clearTimeout(this._exactTimer);
    this.source.changed.disconnect(this._onEdit, this);
    Signal.clearData(this);
  }

  private _onEdit(): void {
    if (!this._stale) {
      this._stale = true;
      this._changed.emit();
    }
    const length = this.source.read().length;
    this._schedule(
      documentDelay(this._settings.config.debounce, length),
      false
    );
  }

  private _onSettings(_: TokenCountSettings, keys: string[]): void {
    if (keys.some(k => ['model', 'mode'].includes(k))) {
      this.recount();
    }
  }

  private _schedule(delay: number, exact: boolean): void {
    window.clearTimeout(this._timer);
    window.clearTimeout(this._exactTimer);
    this._timer = window.setTimeout(() => void this._run(exact), delay);
  }

  private async _run(exact: boolean): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this._inFlight) {
      this._rerun = this._rerun || (exact ? 'exact' : 'typing');
      return;
    }
    const text = this.source.read();
    if (text === this._text && (!exact || this._result?.total.exact)) {
      this._stale = false;
      this._changed.emit();
      return;
    }
    this._inFlight = true;
    const config = this._settings.config;
    try {
      const result = await this._api.document({
        name: this.name,
        text,
        encoding: this.source.encoding(),
        model: this._catalog.effectiveModel(config.model),
        mode: config.mode,
        exact_total: exact
      });
      if (this._disposed) {
        return;
      }
      this._result = result;
      this._compared = compared(result);
      this._error = null;
      this._text = text;
      this._stale = text !== this.source.read();
      this._changed.emit();
      if (!exact && result.total.pending) {
        // the exact count once typing has paused for longer
        this._exactTimer = window.setTimeout(
          () => this._schedule(0, true),
          config.exactTotalDelay
        );
      } else if (exact && result.total.pending) {
        this._exactTimer = window.setTimeout(
          () => this._schedule(0, true),
          2000
        );
      }
    } catch (err) {
      if (!this._disposed) {
        this._error = asTokenCountError(err);
        this._text = null;
        this._changed.emit();
      }
    } finally {
      this._inFlight = false;
      const rerun = this._rerun;
      this._rerun = null;
      if (rerun && !this._disposed) {
        this._schedule(0, rerun === 'exact');
      }
    }
  }

  private _api: TokenCountAPI;
  private _settings: TokenCountSettings;
  private _catalog: ModelCatalog;
  private _result: IDocumentResult | null = null;
  private _compared: ICompared | null = null;
  private _error: TokenCountError | null = null;
  private _text: string | null = null;
  private _stale = true;
  private _inFlight = false;
  private _rerun: 'exact' | 'typing' | null = null;
  private _timer = 0;
  private _exactTimer = 0;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace DocumentCounter {
  export interface IOptions {
    widget: DocumentWidget;
    source: IDocumentSource;
    api: TokenCountAPI;
    settings: TokenCountSettings;
    catalog: ModelCatalog;
  }
}

/** The selection's count on a status item's node (`data-token-count-selection`), or none without one. */
export function markSelection(
  node: HTMLElement,
  selection: ITokenCount | null
): void {
  if (selection) {
    node.dataset.tokenCountSelection = String(selection.input_tokens);
  } else {
    delete node.dataset.tokenCountSelection;
  }
}

/** "412 selected · " before a status text, or '' without a selection. */
export function selectionPrefix(selection: ITokenCount | null): string {
  return selection
    ? `${formatCount(selection.input_tokens, selection.exact)} selected · `
    : '';
}

/**
 * Status bar item for a document (in the editor or a viewer): its tokens, the selection's, the share of the
 * context window and the cost. Same hooks as the notebook's item: `data-token-count-total`, `data-token-exact`, and
 * `data-token-count-selection` while text is selected.
 */
export class DocumentStatusItem extends Widget {
  constructor(options: DocumentStatusItem.IOptions) {
    super();
    this._catalog = options.catalog;
    this._selection = options.selection;
    this.addClass('jp-TokenCount-status');
    this.addClass('jp-TokenCount-docStatus');
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'status');
    this._catalog.changed.connect(this.update, this);
    this._selection.changed.connect(this.update, this);
  }

  set counter(counter: DocumentCounter | null) {
    if (counter === this._counter) {
      return;
    }
    this._counter?.changed.disconnect(this.update, this);
    this._counter = counter;
    counter?.changed.connect(this.update, this);
    this.update();
  }

  get counter(): DocumentCounter | null {
    return this._counter;
  }

  protected onUpdateRequest(): void {
    const node = this.node;
    const counter = this._counter;
    const r = counter?.document ?? null;
    const sel = this._selection.result;
    node.classList.remove(
      'jp-mod-warning',
      'jp-mod-error',
      'jp-mod-estimate',
      'jp-mod-pending'
    );
    markSelection(node, sel);
    if (!counter || !r) {
      node.textContent = counter?.error ? 'Tokens: unavailable' : 'Tokens: …';
      node.title = counter?.error
        ? `Token count failed: ${counter.error.message}`
        : 'Counting tokens…';
      node.classList.toggle('jp-mod-error', !!counter?.error);
      delete node.dataset.tokenCountTotal;
      delete node.dataset.tokenExact;
      return;
    }
    const t = r.total;
    const exact = t.exact && !counter.stale;
    const fraction = t.context_fraction ?? null;
    const pct = formatPercent(fraction);
    const parts = [
      `${selectionPrefix(sel)}${formatCount(t.input_tokens, exact)} tokens`
    ];
    if (pct) {
      parts.push(`${pct} of context`);
    }
    parts.push(formatCost(t.cost_usd));
    node.textContent = parts.join(' · ');
    node.dataset.tokenCountTotal = String(t.input_tokens);
    node.dataset.tokenExact = String(exact);
    node.classList.toggle('jp-mod-estimate', !exact);
    node.classList.toggle('jp-mod-pending', counter.stale);
    node.classList.toggle('jp-mod-warning', isOverWarning(fraction));
    const window = t.context_window
      ? `${formatTokens(t.context_window)}-token context window`
      : 'unknown context window';
    const edited = describeEditing(t.original_input_tokens, exact);
    const lines = [
      `${this._catalog.displayName(t.model)}: ${formatCount(t.input_tokens, exact)} input tokens in this file` +
        (edited ? ` (${edited})` : ''),
      `Counted as ${r.note}`,
      `${pct || '?'} of the ${window}`,
      `Input cost ${formatCost(t.cost_usd)} at list price`,
      counter.stale
        ? '≈ Edited since this count; recounting'
        : describeExactness(t.exact, t.reason, this._catalog.status),
      counter.stale ? '' : describeRange(t.input_tokens, t.low, t.high, t.exact)
    ].filter(line => line);
    if (sel) {
      lines.unshift(
        `Selection: ${formatCount(sel.input_tokens, sel.exact)} tokens (${formatCost(sel.cost_usd)}), as one user message`
      );
    }
    node.title = lines.join('\n');
    node.setAttribute('aria-label', lines.join('. '));
  }

  private _catalog: ModelCatalog;
  private _selection: SelectionCounter;
  private _counter: DocumentCounter | null = null;
}

export namespace DocumentStatusItem {
  export interface IOptions {
    catalog: ModelCatalog;
    selection: SelectionCounter;
  }
}
