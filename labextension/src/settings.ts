/**
 * Typed view of the user's settings (schema/plugin.json), shared by every part of the UI.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { Mode } from './api';

export interface ITokenCountConfig {
  model: string;
  debounce: number;
  exactTotalDelay: number;
  includeOutputs: boolean;
  showBadges: boolean;
  mode: Mode;
  compareModels: string[];
}

const DEFAULT_CONFIG: ITokenCountConfig = {
  model: '',
  debounce: 150,
  exactTotalDelay: 2000,
  includeOutputs: false,
  showBadges: true,
  mode: 'auto',
  compareModels: []
};

const MODES: Mode[] = ['auto', 'api', 'offline'];

export class TokenCountSettings {
  constructor(settings: ISettingRegistry.ISettings | null) {
    this._settings = settings;
    if (settings) {
      this._read();
      settings.changed.connect(() => {
        const before = this._config;
        this._read();
        this._changed.emit(changedKeys(before, this._config));
      });
    }
  }

  /** Emits the keys whose value changed. */
  get changed(): ISignal<this, (keyof ITokenCountConfig)[]> {
    return this._changed;
  }

  get config(): Readonly<ITokenCountConfig> {
    return this._config;
  }

  /** Persist a value; falls back to memory when the settings registry is unavailable. */
  async set<K extends keyof ITokenCountConfig>(
    key: K,
    value: ITokenCountConfig[K]
  ): Promise<void> {
    if (this._settings) {
      await this._settings.set(key, value as any);
    } else {
      const before = this._config;
      this._config = { ...this._config, [key]: value };
      this._changed.emit(changedKeys(before, this._config));
    }
  }

  private _read(): void {
    const c = this._settings!.composite as Partial<ITokenCountConfig>;
    const debounce = Number(c.debounce);
    const exactTotalDelay = Number(c.exactTotalDelay);
    this._config = {
      model: typeof c.model === 'string' ? c.model.trim() : '',
      debounce:
        Number.isFinite(debounce) && debounce >= 0
          ? debounce
          : DEFAULT_CONFIG.debounce,
      exactTotalDelay:
        Number.isFinite(exactTotalDelay) && exactTotalDelay >= 0
          ? exactTotalDelay
          : DEFAULT_CONFIG.exactTotalDelay,
      includeOutputs: c.includeOutputs === true,
      showBadges: c.showBadges !== false,
      mode: MODES.includes(c.mode as Mode) ? (c.mode as Mode) : 'auto',
      compareModels: Array.isArray(c.compareModels)
        ? c.compareModels.filter(m => typeof m === 'string').slice(0, 3)
        : []
    };
  }

  private _settings: ISettingRegistry.ISettings | null;
  private _config: ITokenCountConfig = { ...DEFAULT_CONFIG };
  private _changed = new Signal<this, (keyof ITokenCountConfig)[]>(this);
}

function changedKeys(
  a: ITokenCountConfig,
  b: ITokenCountConfig
): (keyof ITokenCountConfig)[] {
  return (Object.keys(b) as (keyof ITokenCountConfig)[]).filter(
    k => JSON.stringify(a[k]) !== JSON.stringify(b[k])
  );
}
