/**
 * The Token Count sidebar: model picker, include-outputs toggle, cells ranked by tokens (click to
 * jump), totals by cell type, a side-by-side comparison of models, and whether the counts are exact.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { Mode } from './api';
import { ModelCatalog } from './catalog';
import { ModelComparison } from './comparison';
import { MAX_COMPARE_MODELS } from './config';
import { NotebookCounter } from './counter';
import { DocumentCounter } from './documents';
import {
  contextFraction,
  describeExactness,
  formatCost,
  describeRange,
  formatCount,
  formatEstimate,
  formatPercent,
  formatTokens,
  isOverWarning,
  snippet
} from './formatters';
import { tokenCountIcon } from './icon';
import { TokenCountSettings } from './settings';

export const SIDEBAR_ID = 'jp-token-count-sidebar';

const MODES: { value: Mode; label: string }[] = [
  { value: 'auto', label: 'Auto (exact with a key, else estimate)' },
  { value: 'api', label: 'API only (exact)' },
  { value: 'offline', label: 'Offline (estimate)' }
];

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class TokenCountSidebar extends Widget {
  constructor(options: TokenCountSidebar.IOptions) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-TokenCount-sidebar');
    this.title.icon = tokenCountIcon;
    this.title.caption = 'Token Count';
    this._settings = options.settings;
    this._catalog = options.catalog;
    this._activatePanel = options.activatePanel;
    this._comparison = new ModelComparison({
      settings: this._settings,
      catalog: this._catalog
    });
    this._build();
    this._settings.changed.connect(this.update, this);
    this._catalog.changed.connect(this.update, this);
    this._comparison.changed.connect(this.update, this);
  }

  set counter(counter: NotebookCounter | null) {
    if (counter === this._counter) {
      return;
    }
    this._counter?.changed.disconnect(this.update, this);
    this._counter = counter;
    counter?.changed.connect(this.update, this);
    if (!this._document) {
      this._comparison.counter = counter;
    }
    this.update();
  }

  get counter(): NotebookCounter | null {
    return this._counter;
  }

  /** Follow a document in the file editor or a viewer (or none: back to the notebook, if any). */
  set document(doc: DocumentCounter | null) {
    if (doc === this._document) {
      return;
    }
    this._document?.changed.disconnect(this.update, this);
    this._document = doc;
    doc?.changed.connect(this.update, this);
    this._comparison.counter = doc ?? this._counter;
    this.update();
  }

  get document(): DocumentCounter | null {
    return this._document;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this._catalog.load().catch(() => undefined);
    void this._catalog.refreshStatus();
    this.update();
  }

  protected onUpdateRequest(): void {
    if (!this.isVisible) {
      return; // Rendered when shown: no work for a closed panel while typing.
    }
    this._renderControls();
    // a document (editor or viewer): its total, the controls and the comparison (no cells to rank)
    const doc = this._document;
    this._typesSection.hidden = !!doc;
    this._cellsSection.hidden = !!doc;
    this._outputsLabel.hidden = !!doc;
    if (doc) {
      this._renderDocument(doc);
    } else {
      this._renderSummary();
      this._renderTypes();
      this._renderRows();
    }
    this._renderCompare();
  }

  // ---- structure ---------------------------------------------------------------------------

  private _build(): void {
    const root = el('div', 'jp-TokenCount-sidebarBody');
    const header = el('header', 'jp-TokenCount-header');
    header.appendChild(el('h2', 'jp-TokenCount-title', 'Token Count'));
    this._notebookName = el('div', 'jp-TokenCount-notebookName');
    header.appendChild(this._notebookName);
    root.appendChild(header);

    // Summary
    const summary = el('section', 'jp-TokenCount-summary');
    summary.setAttribute('aria-live', 'polite');
    this._total = el('div', 'jp-TokenCount-total');
    this._sub = el('div', 'jp-TokenCount-sub');
    this._exactness = el('div', 'jp-TokenCount-exactness');
    summary.append(this._total, this._sub, this._exactness);
    root.appendChild(summary);

    // Controls
    const controls = el('section', 'jp-TokenCount-controls');
    const modelLabel = el('label', 'jp-TokenCount-field');
    modelLabel.appendChild(el('span', '', 'Model'));
    this._modelSelect = el('select', 'jp-mod-styled jp-TokenCount-model');
    this._modelSelect.addEventListener('change', () => {
      void this._settings.set('model', this._modelSelect.value);
    });
    modelLabel.appendChild(this._modelSelect);

    const modeLabel = el('label', 'jp-TokenCount-field');
    modeLabel.appendChild(el('span', '', 'Mode'));
    this._modeSelect = el('select', 'jp-mod-styled jp-TokenCount-mode');
    for (const m of MODES) {
      const opt = el('option', '', m.label);
      opt.value = m.value;
      this._modeSelect.appendChild(opt);
    }
    this._modeSelect.addEventListener('change', () => {
      void this._settings.set('mode', this._modeSelect.value as Mode);
    });
    modeLabel.appendChild(this._modeSelect);

    const outputsLabel = el('label', 'jp-TokenCount-check');
    this._outputsLabel = outputsLabel;
    this._outputs = el('input', 'jp-TokenCount-includeOutputs');
    this._outputs.type = 'checkbox';
    this._outputs.addEventListener('change', () => {
      void this._settings.set('includeOutputs', this._outputs.checked);
    });
    outputsLabel.append(this._outputs, el('span', '', 'Include outputs'));

    const recount = el(
      'button',
      'jp-mod-styled jp-TokenCount-recount',
      'Recount'
    );
    recount.type = 'button';
    recount.addEventListener('click', () =>
      (this._document ?? this._counter)?.recount()
    );

    controls.append(modelLabel, modeLabel, outputsLabel, recount);
    root.appendChild(controls);

    // Totals by type
    const types = el('section', 'jp-TokenCount-types');
    this._typesSection = types;
    types.appendChild(el('h3', '', 'By cell type'));
    this._typesTable = el('table', 'jp-TokenCount-typesTable');
    this._typesNote = el('p', 'jp-TokenCount-note');
    types.append(this._typesTable, this._typesNote);
    root.appendChild(types);

    // Ranked cells
    const cells = el('section', 'jp-TokenCount-cells');
    this._cellsSection = cells;
    cells.appendChild(el('h3', '', 'Cells by tokens'));
    this._rows = el('ol', 'jp-TokenCount-rows');
    this._rows.setAttribute(
      'aria-label',
      'Cells ranked by tokens; activate a row to go to its cell'
    );
    cells.appendChild(this._rows);
    root.appendChild(cells);

    // Comparison
    this._compareDetails = el('details', 'jp-TokenCount-compare');
    const summaryEl = el('summary', '', 'Compare models');
    this._compareDetails.appendChild(summaryEl);
    this._comparePicker = el('fieldset', 'jp-TokenCount-comparePicker');
    this._comparePicker.appendChild(
      el('legend', '', `Choose up to ${MAX_COMPARE_MODELS} models`)
    );
    this._compareTable = el('table', 'jp-TokenCount-compareTable');
    const note = el(
      'p',
      'jp-TokenCount-note',
      'Claude models use different tokenizers, so the same notebook costs a different number of tokens.'
    );
    this._compareDetails.append(this._comparePicker, this._compareTable, note);
    this._compareDetails.addEventListener('toggle', () => this.update());
    root.appendChild(this._compareDetails);

    this.node.appendChild(root);
  }

  // ---- rendering ---------------------------------------------------------------------------

  private _renderControls(): void {
    const config = this._settings.config;
    const models = this._catalog.models;
    const current = this._catalog.effectiveModel(config.model) ?? '';
    const ids = models ? models.models.map(m => m.id) : [];
    if (current && !ids.includes(current)) {
      ids.unshift(current);
    }
    const sig = ids.join('|');
    if (this._modelSelect.dataset.options !== sig) {
      this._modelSelect.textContent = '';
      for (const id of ids) {
        const entry = this._catalog.find(id);
        const opt = el(
          'option',
          '',
          entry ? `${entry.display_name} (${id})` : id
        );
        opt.value = id;
        this._modelSelect.appendChild(opt);
      }
      this._modelSelect.dataset.options = sig;
    }
    if (this._modelSelect.value !== current) {
      this._modelSelect.value = current;
    }
    this._modeSelect.value = config.mode;
    this._outputs.checked = config.includeOutputs;
  }

  private _renderDocument(doc: DocumentCounter): void {
    this._notebookName.textContent = doc.widget.context.localPath;
    const r = doc.document;
    const error = doc.error;
    this._exactness.classList.toggle('jp-mod-error', !!error);
    if (!r) {
      this._total.textContent = error ? 'Count unavailable' : 'Counting…';
      this._total.removeAttribute('data-token-count-sidebar-total');
      this._sub.textContent = '';
      this._exactness.textContent = error ? error.message : '';
      return;
    }
    const t = r.total;
    const exact = t.exact && !doc.stale;
    this._total.textContent = `${formatCount(t.input_tokens, exact)} tokens`;
    this._total.dataset.tokenCountSidebarTotal = String(t.input_tokens);
    this._total.classList.toggle('jp-mod-estimate', !exact);
    const fraction = t.context_fraction ?? null;
    const sub: string[] = [
      t.display_name ?? this._catalog.displayName(t.model)
    ];
    if (t.context_window) {
      sub.push(
        `${formatPercent(fraction)} of ${formatTokens(t.context_window)}-token context`
      );
    }
    sub.push(`${formatCost(t.cost_usd)} input`);
    this._sub.textContent = sub.join(' · ');
    this._sub.classList.toggle('jp-mod-warning', isOverWarning(fraction));
    const range = doc.stale
      ? ''
      : describeRange(t.input_tokens, t.low, t.high, t.exact);
    const lines = [
      `Counted as ${r.note}`,
      doc.stale
        ? '≈ Edited since this count; recounting'
        : describeExactness(t.exact, t.reason, this._catalog.status),
      ...(range ? [range] : []),
      ...(t.warnings ?? []).map(w => `⚠ ${w}`)
    ];
    if (error) {
      lines.push(`Last recount failed: ${error.message}`);
    }
    this._exactness.textContent = lines.join('\n');
    this._exactness.classList.toggle('jp-mod-estimate', !exact);
  }

  private _renderSummary(): void {
    const counter = this._counter;
    const panel = counter?.panel;
    this._notebookName.textContent = panel
      ? panel.context.localPath
      : 'No notebook open';
    const r = counter?.result ?? null;
    const error = counter?.error ?? null;
    if (!counter || !r) {
      this._total.textContent = counter
        ? error
          ? 'Count unavailable'
          : 'Counting…'
        : '—';
      this._total.removeAttribute('data-token-count-sidebar-total');
      this._sub.textContent = '';
      this._exactness.textContent = error ? error.message : '';
      this._exactness.classList.toggle('jp-mod-error', !!error);
      return;
    }
    this._total.textContent = `${formatCount(r.total, r.exact)} tokens`;
    this._total.dataset.tokenCountSidebarTotal = String(r.total);
    this._total.classList.toggle('jp-mod-estimate', !r.exact);
    const fraction = contextFraction(r);
    const sub: string[] = [
      r.display_name ?? this._catalog.displayName(r.model)
    ];
    if (r.context_window) {
      sub.push(
        `${formatPercent(fraction)} of ${formatTokens(r.context_window)}-token context`
      );
    }
    sub.push(`${formatCost(r.cost_usd)} input`);
    this._sub.textContent = sub.join(' · ');
    this._sub.classList.toggle('jp-mod-warning', isOverWarning(fraction));
    const status = this._catalog.status;
    const lines = [describeExactness(r.exact, r.reason, status)];
    const range = describeRange(r.total, r.low, r.high, r.exact);
    if (range) {
      lines.push(range);
    }
    if (status) {
      const parts = [
        `server backend: ${status.backend}`,
        status.key_configured ? 'API key configured' : 'no API key'
      ];
      if (status.estimator) {
        parts.push(`estimator: ${status.estimator}`);
      }
      lines.push(parts.join(' · '));
    }
    for (const warning of r.warnings ?? []) {
      lines.push(`⚠ ${warning}`);
    }
    if (error) {
      lines.push(`Last recount failed: ${error.message}`);
    }
    this._exactness.textContent = lines.join('\n');
    this._exactness.classList.toggle('jp-mod-error', !!error);
    this._exactness.classList.toggle('jp-mod-estimate', !r.exact);
  }

  private _renderTypes(): void {
    const table = this._typesTable;
    table.textContent = '';
    const counter = this._counter;
    const r = counter?.result;
    if (!counter || !r) {
      return;
    }
    // The server sums the shares by type; the rows then add up to the total.
    const cellsOfType = new Map<string, number>();
    for (const c of r.cells) {
      if (c.tokens) {
        cellsOfType.set(c.cell_type, (cellsOfType.get(c.cell_type) ?? 0) + 1);
      }
    }
    const sharesExact = r.cells.every(c => c.exact);
    const row = (
      label: string,
      tokens: number,
      exact: boolean,
      detail: string,
      title?: string
    ) => {
      const tr = el('tr');
      tr.append(
        el('th', '', label),
        el('td', 'jp-TokenCount-num', formatCount(tokens, exact)),
        el('td', 'jp-TokenCount-detail', detail)
      );
      tr.dataset.tokenCount = String(tokens);
      if (title) {
        tr.title = title;
      }
      table.appendChild(tr);
      return tr;
    };
    for (const type of ['code', 'markdown', 'raw']) {
      const tokens = r.by_type[type];
      if (tokens !== undefined) {
        const n = cellsOfType.get(type) ?? 0;
        row(type, tokens, sharesExact, `${n} cell${n === 1 ? '' : 's'}`);
      }
    }
    row(
      'joins + frame',
      r.joins_and_frame,
      r.exact && sharesExact,
      '',
      'The request frame every message pays, the blank lines joining cells and tokens merged across ' +
        'a cell boundary: the notebook total less the cells’ shares.'
    ).classList.add('jp-TokenCount-joins');
    const total = row(
      'total',
      r.total,
      r.exact,
      '',
      'The notebook counted as one request, as the CLI and count_tokens() count it.'
    );
    total.classList.add('jp-TokenCount-typesTotal');
    this._typesNote.textContent =
      (sharesExact
        ? 'A cell’s share is its own exact count less the request frame. '
        : 'A cell’s share comes from the offline tokenizer (≈) until its exact count is in. ') +
      '“Joins + frame” is the rest of the total: the request frame, the blank lines between cells and ' +
      'tokens merged across them.';
  }

  private _renderRows(): void {
    const counter = this._counter;
    const r = counter?.result;
    const list = this._rows;
    if (!counter || !r) {
      list.textContent = '';
      this._rowNodes.clear();
      return;
    }
    const model = counter.panel.content.model;
    const info = new Map<
      string,
      { index: number; source: string; type: string }
    >();
    if (model) {
      for (let i = 0; i < model.cells.length; i++) {
        const c = model.cells.get(i);
        info.set(c.id, {
          index: i,
          source: c.sharedModel.getSource(),
          type: c.type
        });
      }
    }
    const ranked = r.cells
      .filter(c => info.has(c.id) && info.get(c.id)!.source.trim() !== '')
      .sort(
        (a, b) =>
          b.tokens - a.tokens || info.get(a.id)!.index - info.get(b.id)!.index
      );
    const max = ranked.length ? Math.max(1, ranked[0].tokens) : 1;
    const seen = new Set<string>();
    ranked.forEach((c, rank) => {
      const i = info.get(c.id)!;
      let li = this._rowNodes.get(c.id);
      if (!li) {
        li = this._createRow(c.id);
        this._rowNodes.set(c.id, li);
      }
      seen.add(c.id);
      const button = li.firstElementChild as HTMLButtonElement;
      const tokens = formatCount(c.tokens, c.exact);
      (
        button.querySelector('.jp-TokenCount-rowIndex') as HTMLElement
      ).textContent = `[${i.index + 1}]`;
      (
        button.querySelector('.jp-TokenCount-rowType') as HTMLElement
      ).textContent = i.type === 'markdown' ? 'md' : i.type;
      (
        button.querySelector('.jp-TokenCount-rowText') as HTMLElement
      ).textContent = snippet(i.source);
      (
        button.querySelector('.jp-TokenCount-rowTokens') as HTMLElement
      ).textContent = tokens;
      (
        button.querySelector('.jp-TokenCount-barFill') as HTMLElement
      ).style.width = `${Math.max(1, (100 * c.tokens) / max)}%`;
      button.dataset.tokenCount = String(c.tokens);
      button.setAttribute(
        'aria-label',
        `Rank ${rank + 1}: cell ${i.index + 1}, ${i.type}, ${formatTokens(c.tokens)} tokens${c.exact ? '' : ' (estimate)'}. Go to cell.`
      );
      button.title =
        formatEstimate(c.tokens, c.low, c.high, c.exact) + ' tokens';
      // Appending an existing node moves it: the list ends up in rank order without rebuilding
      // rows, so a focused row keeps focus across recounts.
      if (list.children[rank] !== li) {
        list.insertBefore(li, list.children[rank] ?? null);
      }
    });
    for (const [id, li] of Array.from(this._rowNodes)) {
      if (!seen.has(id)) {
        li.remove();
        this._rowNodes.delete(id);
      }
    }
  }

  private _createRow(cellId: string): HTMLLIElement {
    const li = el('li', 'jp-TokenCount-row');
    const button = el('button', 'jp-TokenCount-rowButton');
    button.type = 'button';
    button.dataset.cellId = cellId;
    const top = el('span', 'jp-TokenCount-rowTop');
    top.append(
      el('span', 'jp-TokenCount-rowIndex'),
      el('span', 'jp-TokenCount-rowType'),
      el('span', 'jp-TokenCount-rowText'),
      el('span', 'jp-TokenCount-rowTokens')
    );
    const bar = el('span', 'jp-TokenCount-bar');
    bar.setAttribute('aria-hidden', 'true');
    bar.appendChild(el('span', 'jp-TokenCount-barFill'));
    button.append(top, bar);
    button.addEventListener('click', () => void this._jumpTo(cellId));
    li.appendChild(button);
    return li;
  }

  private async _jumpTo(cellId: string): Promise<void> {
    const panel = this._counter?.panel;
    if (!panel || panel.isDisposed) {
      return;
    }
    const notebook = panel.content;
    const index = notebook.widgets.findIndex(
      (c: Cell) => c.model.id === cellId
    );
    if (index < 0) {
      return;
    }
    this._activatePanel(panel);
    notebook.deselectAll();
    notebook.activeCellIndex = index;
    notebook.mode = 'command';
    await notebook.scrollToCell(notebook.widgets[index], 'center');
    notebook.node.focus();
  }

  private _renderCompare(): void {
    const models = this._catalog.models?.models ?? [];
    const comparison = this._comparison;
    const selected = comparison.selected;
    // Picker: checkboxes, rebuilt only when the models or the selection change.
    const sig = `${models.map(m => m.id).join('|')}#${selected.join('|')}`;
    if (this._comparePicker.dataset.sig !== sig) {
      this._comparePicker.dataset.sig = sig;
      this._comparePicker.querySelectorAll('label').forEach(n => n.remove());
      for (const m of models) {
        const label = el('label', 'jp-TokenCount-check');
        const box = el('input');
        box.type = 'checkbox';
        box.value = m.id;
        box.checked = selected.includes(m.id);
        box.disabled = !box.checked && !comparison.canAdd;
        box.addEventListener('change', () => {
          void comparison.toggle(m.id, box.checked);
        });
        label.append(
          box,
          el(
            'span',
            '',
            `${m.display_name}${m.tokenizer ? ` · ${m.tokenizer}` : ''}`
          )
        );
        this._comparePicker.appendChild(label);
      }
    }
    const table = this._compareTable;
    table.textContent = '';
    if (!this._compareDetails.open || !comparison.counter?.result) {
      return; // closed: no requests for it
    }
    const rows = comparison.rows();
    const head = el('tr');
    for (const h of ['Model', 'Tokens', 'Context', 'Cost']) {
      head.appendChild(el('th', '', h));
    }
    table.appendChild(head);
    for (const { id, result: r, error } of rows) {
      const tr = el('tr');
      tr.dataset.model = id;
      const name = el('th', '', this._catalog.displayName(id));
      const tokenizer = this._catalog.find(id)?.tokenizer;
      if (tokenizer) {
        name.title = `${id} · tokenizer ${tokenizer}`;
      }
      tr.appendChild(name);
      if (r) {
        tr.dataset.tokenCount = String(r.total);
        tr.append(
          el('td', 'jp-TokenCount-num', formatCount(r.total, r.exact)),
          el(
            'td',
            'jp-TokenCount-num',
            formatPercent(contextFraction(r)) || '?'
          ),
          el('td', 'jp-TokenCount-num', formatCost(r.cost_usd))
        );
      } else {
        const td = el('td', 'jp-TokenCount-detail', error ?? 'counting…');
        td.colSpan = 3;
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
  }

  private _settings: TokenCountSettings;
  private _catalog: ModelCatalog;
  private _activatePanel: (panel: NotebookPanel) => void;
  private _counter: NotebookCounter | null = null;
  private _document: DocumentCounter | null = null;
  private _comparison: ModelComparison;
  private _typesSection!: HTMLElement;
  private _cellsSection!: HTMLElement;
  private _outputsLabel!: HTMLElement;
  private _rowNodes = new Map<string, HTMLLIElement>();
  private _notebookName!: HTMLElement;
  private _total!: HTMLElement;
  private _sub!: HTMLElement;
  private _exactness!: HTMLElement;
  private _modelSelect!: HTMLSelectElement;
  private _modeSelect!: HTMLSelectElement;
  private _outputs!: HTMLInputElement;
  private _typesTable!: HTMLTableElement;
  private _typesNote!: HTMLElement;
  private _rows!: HTMLOListElement;
  private _compareDetails!: HTMLDetailsElement;
  private _comparePicker!: HTMLFieldSetElement;
  private _compareTable!: HTMLTableElement;
}

export namespace TokenCountSidebar {
  export interface IOptions {
    settings: TokenCountSettings;
    catalog: ModelCatalog;
    activatePanel: (panel: NotebookPanel) => void;
  }
}
