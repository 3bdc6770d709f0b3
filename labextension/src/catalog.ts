/**
 * The model registry as the server serves it (GET /models) and the server's status, fetched on demand and
 * shared by every view.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IModelEntry, IModels, IStatus, TokenCountAPI } from './api';

/** The model registry as served by GET /models, fetched once per page. */
export class ModelCatalog {
  constructor(api: TokenCountAPI) {
    this._api = api;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get models(): IModels | null {
    return this._models;
  }

  get status(): IStatus | null {
    return this._status;
  }

  load(): Promise<void> {
    if (!this._loading) {
      this._loading = this._api
        .models()
        .then(models => {
          this._models = models;
          this._changed.emit();
        })
        .catch(err => {
          // Retry on the next call: the server extension may still be starting.
          this._loading = null;
          throw err;
        });
    }
    return this._loading;
  }

  async refreshStatus(): Promise<IStatus | null> {
    try {
      this._status = await this._api.status();
      this._changed.emit();
    } catch {
      // The status only enriches explanations; counting works without it.
    }
    return this._status;
  }

  find(id: string | null | undefined): IModelEntry | undefined {
    if (!id || !this._models) {
      return undefined;
    }
    return this._models.models.find(
      m => m.id === id || (m.aliases ?? []).includes(id)
    );
  }

  /** The model to count with: the setting, else the server's default. */
  effectiveModel(setting: string): string | undefined {
    return setting || this._models?.default_model || undefined;
  }

  displayName(id: string | null | undefined): string {
    return this.find(id)?.display_name ?? id ?? 'default model';
  }

  private _api: TokenCountAPI;
  private _models: IModels | null = null;
  private _status: IStatus | null = null;
  private _loading: Promise<void> | null = null;
  private _changed = new Signal<this, void>(this);
}
