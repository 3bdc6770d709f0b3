/**
 * The user's settings as plain values: their defaults and how a stored (possibly hand-edited) value is read.
 *
 * Pure, so that a unit test can pin `DEFAULT_CONFIG` and `MAX_COMPARE_MODELS` to schema/plugin.json,
 * which stays the one place a user reads them.
 */
import type { Mode } from './api';

export interface ITokenCountConfig {
  model: string;
  debounce: number;
  exactTotalDelay: number;
  includeOutputs: boolean;
  showBadges: boolean;
  mode: Mode;
  compareModels: string[];
}

/** How many models the sidebar's comparison shows at once (the schema's `compareModels.maxItems`). */
export const MAX_COMPARE_MODELS = 3;

/** The schema's defaults, used until the settings registry answers or when it is unavailable. */
export const DEFAULT_CONFIG: Readonly<ITokenCountConfig> = Object.freeze({
  model: '',
  debounce: 150,
  exactTotalDelay: 2000,
  includeOutputs: false,
  showBadges: true,
  mode: 'auto',
  compareModels: []
});

export const MODES: readonly Mode[] = ['auto', 'api', 'offline'];

/** A composite settings value read defensively: anything malformed falls back to its default. */
export function readConfig(
  c: Partial<Record<keyof ITokenCountConfig, unknown>>
): ITokenCountConfig {
  const delay = (value: unknown, fallback: number) => {
    const n = Number(value);
    return value !== null && Number.isFinite(n) && n >= 0 ? n : fallback;
  };
  return {
    model: typeof c.model === 'string' ? c.model.trim() : DEFAULT_CONFIG.model,
    debounce: delay(c.debounce, DEFAULT_CONFIG.debounce),
    exactTotalDelay: delay(c.exactTotalDelay, DEFAULT_CONFIG.exactTotalDelay),
    includeOutputs:
      typeof c.includeOutputs === 'boolean'
        ? c.includeOutputs
        : DEFAULT_CONFIG.includeOutputs,
    showBadges:
      typeof c.showBadges === 'boolean'
        ? c.showBadges
        : DEFAULT_CONFIG.showBadges,
    mode: MODES.includes(c.mode as Mode)
      ? (c.mode as Mode)
      : DEFAULT_CONFIG.mode,
    compareModels: Array.isArray(c.compareModels)
      ? c.compareModels
          .filter((m): m is string => typeof m === 'string')
          .slice(0, MAX_COMPARE_MODELS)
      : [...DEFAULT_CONFIG.compareModels]
  };
}

/** The keys whose values differ between two configurations. */
export function changedKeys(
  a: ITokenCountConfig,
  b: ITokenCountConfig
): (keyof ITokenCountConfig)[] {
  return (Object.keys(b) as (keyof ITokenCountConfig)[]).filter(
    k => JSON.stringify(a[k]) !== JSON.stringify(b[k])
  );
}
