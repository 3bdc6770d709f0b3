/**
 * Per-cell token badges.
 *
 * Each badge is a small absolutely positioned element inside the cell's input area, so showing,
 * hiding or updating it never moves the notebook's layout. Cells of a windowed notebook are
 * rendered lazily; a badge is attached when its cell first renders (`cell.ready`) and lives in
 * the cell's own DOM, so it survives the cell being detached and re-attached while scrolling and
 * disappears with the cell.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { CommandRegistry } from '@lumino/commands';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { ModelCatalog } from './catalog';
import { NotebookCounter } from './counter';
import { describeRange, formatCost, formatCount } from './formatters';
import { TokenCountSettings } from './settings';

const BADGE_CLASS = 'jp-TokenCount-badge';
const HIDE_BADGES_CLASS = 'jp-TokenCount-hideBadges';
const HOST_CLASS = 'jp-TokenCount-badgeHost';

export class BadgeManager implements IDisposable {
  constructor(options: BadgeManager.IOptions) {
    this._panel = options.panel;
    this._counter = options.counter;
    this._settings = options.settings;
    this._catalog = options.catalog;
    this._commands = options.commands;
    this._openCommand = options.openCommand;

    this._counter.changed.connect(this._onCounts, this);
    this._catalog.changed.connect(this._scheduleUpdate, this);
    this._settings.changed.connect(this._onSettings, this);
    const notebook = this._panel.content;
    this._active = notebook.activeCell;
    // a cell scrolled into view or newly active: its badge only (a notebook of a thousand cells renders them
    // one by one, and every full pass would measure every badge)
    notebook.cellInViewportChanged.connect(
      (_, cell) => this._touch(cell),
      this
    );
    // the active cell shows JupyterLab's cell toolbar, which the badge must not sit under; the toolbar is
    // attached a moment after the cell becomes active, so look again shortly after
    notebook.activeCellChanged.connect((_, cell) => {
      this._touch(this._active);
      this._active = cell;
      this._touch(cell);
      for (const ms of [150, 500]) {
        window.setTimeout(() => this._touch(cell), ms);
      }
    }, this);
    notebook.modelChanged.connect(this._scheduleUpdate, this);
    void this._panel.context.ready.then(() => {
      if (!this._disposed) {
        this._panel.content.model?.cells.changed.connect(
          this._scheduleUpdate,
          this
        );
        this._scheduleUpdate();
      }
    });
    this._applyVisibility();
    this._panel.disposed.connect(() => this.dispose());
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    cancelAnimationFrame(this._frame);
    // Disposed with its notebook panel, whose DOM (badges included) goes too; this disconnects
    // every signal it listens to.
    Signal.clearData(this);
  }

  private _onSettings(_: TokenCountSettings, keys: string[]): void {
    if (keys.includes('showBadges')) {
      this._applyVisibility();
    }
  }

  private _applyVisibility(): void {
    this._panel.content.node.classList.toggle(
      HIDE_BADGES_CLASS,
      !this._settings.config.showBadges
    );
  }

  /** Render every badge again at the next frame (the notebook, the viewport or the settings changed). */
  private _scheduleUpdate(): void {
    this._all = true;
    this._requestFrame();
  }

  /** Render one cell's badge again at the next frame. */
  private _touch(cell: Cell | null | undefined): void {
    if (cell && !cell.isDisposed) {
      this._dirtyCells.add(cell);
      this._requestFrame();
    }
  }

  /** The counter names the cells whose counts changed: only their badges are rendered again. */
  private _onCounts(_: NotebookCounter, change: NotebookCounter.IChange): void {
    if (change.cells === null) {
      this._all = true;
    } else {
      change.cells.forEach(id => this._dirtyIds.add(id));
    }
    this._requestFrame();
  }

  /** Coalesce bursts of signals (one per keystroke, one per cell scrolled in) into one paint. */
  private _requestFrame(): void {
    if (this._disposed || this._frame) {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      const all = this._all;
      const cells = this._dirtyCells;
      const ids = this._dirtyIds;
      this._all = false;
      this._dirtyCells = new Set();
      this._dirtyIds = new Set();
      if (this._disposed || this._panel.isDisposed) {
        return;
      }
      if (all || ids.size) {
        // cells known by id (the counter's changes) are found in one pass over the notebook
        for (const cell of this._panel.content.widgets) {
          if (all || ids.has(cell.model.id)) {
            cells.add(cell);
          }
        }
      }
      cells.forEach(cell => this._update(cell));
    });
  }

  private _update(cell: Cell): void {
    if (cell.isDisposed) {
      return;
    }
    let badge = this._badges.get(cell);
    if (!badge) {
      if (!cell.inputArea || cell.isPlaceholder()) {
        // Not rendered yet (windowed notebook): attach when it is.
        this._whenReady(cell);
        return;
      }
      badge = this._create(cell) ?? undefined;
      if (!badge) {
        return;
      }
    }
    this._render(cell, badge);
  }

  private _whenReady(cell: Cell): void {
    if (this._waiting.has(cell)) {
      return;
    }
    this._waiting.add(cell);
    void cell.ready.then(() => this._touch(cell));
  }

  private _create(cell: Cell): HTMLElement | null {
    const host = cell.inputArea?.node;
    if (!host) {
      return null;
    }
    const badge = document.createElement('span');
    badge.className = BADGE_CLASS;
    badge.tabIndex = 0;
    badge.setAttribute('role', 'button');
    badge.hidden = true;
    const open = (event: Event) => {
      event.preventDefault();
      event.stopPropagation();
      void this._commands.execute(this._openCommand);
    };
    badge.addEventListener('click', open);
    badge.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter' || event.key === ' ') {
        open(event);
      }
    });
    host.classList.add(HOST_CLASS);
    host.appendChild(badge);
    this._badges.set(cell, badge);
    return badge;
  }

  private _render(cell: Cell, badge: HTMLElement): void {
    const id = cell.model.id;
    const count = this._counter.cellCount(id);
    const empty = cell.model.sharedModel.getSource().trim() === '';
    if (!count || empty) {
      if (!badge.hidden) {
        badge.hidden = true;
      }
      return;
    }
    const pending = this._counter.isPending(id);
    const result = this._counter.result;
    const model = result?.model;
    const text = formatCount(count.tokens, count.exact);
    this._avoidToolbar(cell, badge);
    const key = `${text}|${count.low}|${count.high}|${pending}|${model}|${count.reason}|${count.cost_usd}|${this._catalog.models ? 1 : 0}`;
    if (this._rendered.get(badge) === key && !badge.hidden) {
      return;
    }
    this._rendered.set(badge, key);
    badge.hidden = false;
    badge.textContent = text;
    badge.dataset.tokenCount = String(count.tokens);
    badge.dataset.tokenExact = String(count.exact);
    badge.classList.toggle('jp-mod-estimate', !count.exact);
    badge.classList.toggle('jp-mod-pending', pending);
    const lines = [
      `${text} input tokens: this cell's share of the notebook`,
      `Model: ${result?.display_name ?? this._catalog.displayName(model)}`,
      count.exact
        ? 'Exact: this cell counted alone by the Anthropic count_tokens API, less the request frame'
        : `≈ Estimate: ${count.reason ?? 'offline tokenizer'}`,
      describeRange(count.tokens, count.low, count.high, count.exact),
      `Cost: ${formatCost(count.cost_usd)} at the notebook's input list price`
    ].filter(line => line);
    if (pending) {
      lines.push('Edited since this count; recounting when typing pauses');
    }
    badge.title = lines.join('\n');
    badge.setAttribute(
      'aria-label',
      `${lines.join('. ')}. Press Enter to open the Token Count panel.`
    );
  }

  /** Keep clear of the cell toolbar (shown on the active cell, top right): on a one-line cell the toolbar
   * covers the input area's right end, so the badge moves left of it while it is shown. */
  private _avoidToolbar(cell: Cell, badge: HTMLElement): void {
    // only the active cell shows the toolbar: no other badge needs measuring (layout reads are what a large
    // notebook's renders would cost)
    const toolbar =
      cell === this._panel.content.activeCell
        ? cell.node.querySelector<HTMLElement>('.jp-cell-toolbar')
        : null;
    let right = '';
    if (
      toolbar &&
      toolbar.offsetParent !== null &&
      toolbar.childElementCount > 0
    ) {
      const bar = toolbar.getBoundingClientRect();
      const host = badge.parentElement?.getBoundingClientRect();
      // only when they would overlap vertically (a taller input keeps the badge below the toolbar)
      if (
        host &&
        bar.width > 0 &&
        bar.bottom > host.bottom - badge.offsetHeight - 4
      ) {
        right = `${Math.max(4, host.right - bar.left + 6)}px`;
      }
    }
    if (badge.style.right !== right) {
      badge.style.right = right;
    }
  }

  private _panel: NotebookPanel;
  private _counter: NotebookCounter;
  private _settings: TokenCountSettings;
  private _catalog: ModelCatalog;
  private _commands: CommandRegistry;
  private _openCommand: string;
  private _badges = new WeakMap<Cell, HTMLElement>();
  private _rendered = new WeakMap<HTMLElement, string>();
  private _waiting = new WeakSet<Cell>();
  private _frame = 0;
  /** At the next frame: every badge (true), else the badges of these cells (by widget, and by id). */
  private _all = false;
  private _dirtyCells = new Set<Cell>();
  private _dirtyIds = new Set<string>();
  private _active: Cell | null = null;
  private _disposed = false;
}

export namespace BadgeManager {
  export interface IOptions {
    panel: NotebookPanel;
    counter: NotebookCounter;
    settings: TokenCountSettings;
    catalog: ModelCatalog;
    commands: CommandRegistry;
    openCommand: string;
  }
}
