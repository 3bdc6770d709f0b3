/**
 * The sidebar's side-by-side comparison of models: which models it shows and their counts of the current
 * notebook. The sidebar renders this state; the requests are sent and tracked here.
 */
import { ISignal, Signal } from '@lumino/signaling';

import type { IModelEntry } from './api';
import type { ModelCatalog } from './catalog';
import { MAX_COMPARE_MODELS } from './config';
import type { TokenCountSettings } from './settings';

/**
 * The models compared when the user chose none: the current model, then the newest model of each other
 * tokenizer family, families of another generation first (v3 and v4.x differ the most; v4.7 and v4.8
 * share a vocabulary). `models` is the registry's list, newest first.
 */
export function defaultCompareModels(
  models: readonly IModelEntry[],
  current: string | undefined,
  currentTokenizer: string | undefined
): string[] {
  const picked: string[] = current ? [current] : [];
  const currentFamily = currentTokenizer ?? '';
  const generation = (family: string) => family.split('.')[0];
  const families = new Set([currentFamily]);
  const candidates: IModelEntry[] = [];
  for (const m of models) {
    if (m.lifecycle === 'retired') {
      continue;
    }
    const family = m.tokenizer ?? m.id;
    if (!families.has(family)) {
      families.add(family);
      candidates.push(m);
    }
  }
  // a stable sort: within each group the registry's order (newest first) stays
  const sameGeneration = (m: IModelEntry) =>
    Number(generation(m.tokenizer ?? '') === generation(currentFamily));
  candidates.sort((a, b) => sameGeneration(a) - sameGeneration(b));
  for (const m of candidates) {
    if (picked.length >= MAX_COMPARE_MODELS) {
      break;
    }
    picked.push(m.id);
  }
  return picked;
}

/** The selection after the user ticks (or unticks) a model; never more than the limit. */
export function toggleCompareModel(
  selected: readonly string[],
  id: string,
  checked: boolean
): string[] {
  if (!checked) {
    return selected.filter(m => m !== id);
  }
  return selected.includes(id)
    ? [...selected]
    : [...selected, id].slice(0, MAX_COMPARE_MODELS);
}

/** A count as the comparison shows it: a notebook's total (ICellsResult) or a document's. */
export interface ICompared {
  model: string;
  total: number;
  exact: boolean;
  context_fraction?: number | null;
  context_window: number | null;
  cost_usd: number | null;
}

/** What can be compared across models: a notebook's counter, or a document's. */
export interface IComparable {
  /** The current count; a new object after each counted edit. */
  readonly result: ICompared | null;
  countWith(model: string): Promise<ICompared>;
}

/** One compared model: its count of the notebook, or why there is none (neither: still counting). */
export interface ICompareRow {
  id: string;
  result?: ICompared;
  error?: string;
}

interface IEntry extends ICompareRow {
  /** The notebook's own result this count belongs to: a new one (a counted edit) asks again. */
  key: ICompared;
}

export class ModelComparison {
  constructor(options: ModelComparison.IOptions) {
    this._settings = options.settings;
    this._catalog = options.catalog;
  }

  /** Emitted when a compared count arrives or fails. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook or document compared; another one starts from no counts. */
  get counter(): IComparable | null {
    return this._counter;
  }

  set counter(counter: IComparable | null) {
    if (counter !== this._counter) {
      this._counter = counter;
      this._entries.clear();
    }
  }

  /** The models compared: the user's choice, else `defaultCompareModels`. */
  get selected(): string[] {
    const config = this._settings.config;
    if (config.compareModels.length) {
      return config.compareModels; // at most MAX_COMPARE_MODELS (config.ts)
    }
    const current = this._catalog.effectiveModel(config.model);
    return defaultCompareModels(
      this._catalog.models?.models ?? [],
      current,
      this._catalog.find(current)?.tokenizer
    );
  }

  /** Whether another model may be ticked. */
  get canAdd(): boolean {
    return this.selected.length < MAX_COMPARE_MODELS;
  }

  /** Tick or untick a model; the choice is saved in the settings. */
  toggle(id: string, checked: boolean): Promise<void> {
    return this._settings.set(
      'compareModels',
      toggleCompareModel(this.selected, id, checked)
    );
  }

  /**
   * Each selected model's count of the notebook's current content. Asks the server only for the models
   * whose count predates the notebook's last counted edit: an open comparison costs one request per model
   * per counted edit. Rows still counting keep their previous result meanwhile.
   */
  rows(): ICompareRow[] {
    const counter = this._counter;
    const key = counter?.result;
    if (!counter || !key) {
      return [];
    }
    return this.selected.map(id => {
      let entry = this._entries.get(id);
      if (key.model === id) {
        // the notebook's own count already answers for its model
        entry = { id, key, result: key };
        this._entries.set(id, entry);
      } else if (!entry || entry.key !== key) {
        entry = { id, key, result: entry?.result };
        this._entries.set(id, entry);
        this._count(counter, entry);
      }
      return { id, result: entry.result, error: entry.error };
    });
  }

  private _count(counter: IComparable, entry: IEntry): void {
    counter
      .countWith(entry.id)
      .then(result => {
        entry.result = result;
        entry.error = undefined;
      })
      .catch(err => {
        entry.error = String(err?.message ?? err);
      })
      .then(() => {
        if (this._entries.get(entry.id) === entry) {
          this._changed.emit();
        }
      });
  }

  private _settings: TokenCountSettings;
  private _catalog: ModelCatalog;
  private _counter: IComparable | null = null;
  private _entries = new Map<string, IEntry>();
  private _changed = new Signal<this, void>(this);
}

export namespace ModelComparison {
  export interface IOptions {
    settings: TokenCountSettings;
    catalog: ModelCatalog;
  }
}
