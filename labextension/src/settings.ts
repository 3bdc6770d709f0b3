/**
 * Typed, observable view of the user's settings (schema/plugin.json), shared by every part of the UI.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { changedKeys, ITokenCountConfig, readConfig } from './config';

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
    this._config = readConfig(
      this._settings!.composite as Partial<
        Record<keyof ITokenCountConfig, unknown>
      >
    );
  }

  private _settings: ISettingRegistry.ISettings | null;
  private _config: ITokenCountConfig = readConfig({});
  private _changed = new Signal<this, (keyof ITokenCountConfig)[]>(this);
}
