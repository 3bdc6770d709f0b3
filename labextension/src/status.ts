/**
 * Status bar item: the current notebook's total, its share of the context window and its cost.
 */
import { CommandRegistry } from '@lumino/commands';
import { markSelection, selectionPrefix, SelectionCounter } from './documents';
import { Widget } from '@lumino/widgets';

import { ModelCatalog } from './catalog';
import { NotebookCounter } from './counter';
import {
  contextFraction,
  describeExactness,
  formatCost,
  formatCount,
  describeRange,
  formatPercent,
  formatTokens,
  isOverWarning,
  WARN_FRACTION
} from './formatters';

export class TokenStatusItem extends Widget {
  constructor(options: TokenStatusItem.IOptions) {
    super();
    this._catalog = options.catalog;
    this._commands = options.commands;
    this._openCommand = options.openCommand;
    this.addClass('jp-TokenCount-status');
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'button');
    this.node.addEventListener('click', () => this._open());
    this.node.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this._open();
      }
    });
    this._catalog.changed.connect(this.update, this);
  }

  /** The count of the text selected in the notebook's active cell, shown before the total. */
  set selection(selection: SelectionCounter | null) {
    this._selection?.changed.disconnect(this.update, this);
    this._selection = selection;
    selection?.changed.connect(this.update, this);
    this.update();
  }

  /** Follow another notebook's counter (or none). */
  set counter(counter: NotebookCounter | null) {
    if (counter === this._counter) {
      return;
    }
    this._counter?.changed.disconnect(this.update, this);
    this._counter = counter;
    counter?.changed.connect(this.update, this);
    this.update();
  }

  get counter(): NotebookCounter | null {
    return this._counter;
  }

  protected onUpdateRequest(): void {
    const node = this.node;
    const counter = this._counter;
    const result = counter?.result ?? null;
    const error = counter?.error ?? null;
    node.classList.remove('jp-mod-warning', 'jp-mod-error', 'jp-mod-estimate');
    if (!counter || (!result && !error)) {
      node.textContent = 'Tokens: …';
      node.removeAttribute('data-token-count-total');
      node.title = 'Counting tokens…';
      node.setAttribute('aria-label', 'Counting tokens');
      return;
    }
    if (error && !result) {
      node.textContent = 'Tokens: unavailable';
      node.classList.add('jp-mod-error');
      node.removeAttribute('data-token-count-total');
      node.title = `Token count failed: ${error.message}`;
      node.setAttribute('aria-label', node.title);
      return;
    }
    const r = result!;
    const fraction = contextFraction(r);
    const pct = formatPercent(fraction);
    const sel = this._selection?.result ?? null;
    markSelection(node, sel);
    const parts = [
      `${selectionPrefix(sel)}${formatCount(r.total, r.exact)} tokens`
    ];
    if (pct) {
      parts.push(`${pct} of context`);
    }
    parts.push(formatCost(r.cost_usd));
    node.textContent = parts.join(' · ');
    node.dataset.tokenCountTotal = String(r.total);
    node.dataset.tokenExact = String(r.exact);
    node.classList.toggle('jp-mod-estimate', !r.exact);
    const warn = isOverWarning(fraction);
    node.classList.toggle('jp-mod-warning', warn);
    const window = r.context_window
      ? `${formatTokens(r.context_window)}-token context window`
      : 'unknown context window';
    const lines = [
      `${r.display_name ?? this._catalog.displayName(r.model)}: ${formatCount(r.total, r.exact)} input tokens (the notebook as one request)`,
      `${pct || '?'} of the ${window}${warn ? ` (over ${formatPercent(WARN_FRACTION)})` : ''}`,
      `Input cost ${formatCost(r.cost_usd)} at list price`,
      describeExactness(r.exact, r.reason, this._catalog.status),
      describeRange(r.total, r.low, r.high, r.exact),
      ...(r.warnings ?? []).map(w => `⚠ ${w}`)
    ].filter(line => line);
    if (error) {
      lines.push(`Last recount failed: ${error.message}`);
    }
    lines.push('Click to open the Token Count panel');
    node.title = lines.join('\n');
    node.setAttribute('aria-label', lines.join('. '));
  }

  private _open(): void {
    void this._commands.execute(this._openCommand);
  }

  private _catalog: ModelCatalog;
  private _commands: CommandRegistry;
  private _openCommand: string;
  private _counter: NotebookCounter | null = null;
  private _selection: SelectionCounter | null = null;
}

export namespace TokenStatusItem {
  export interface IOptions {
    catalog: ModelCatalog;
    commands: CommandRegistry;
    openCommand: string;
  }
}
