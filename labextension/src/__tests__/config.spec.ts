import schema from '../../schema/plugin.json';
import {
  changedKeys,
  DEFAULT_CONFIG,
  MAX_COMPARE_MODELS,
  MODES,
  readConfig
} from '../config';

type Property = {
  title?: string;
  description?: string;
  default?: unknown;
  enum?: string[];
  maxItems?: number;
};
const properties = schema.properties as Record<string, Property>;

describe('the settings schema and config.ts', () => {
  it('gives every field a title, a description and a default', () => {
    for (const [key, p] of Object.entries(properties)) {
      expect([key, typeof p.title, typeof p.description]).toEqual([
        key,
        'string',
        'string'
      ]);
      expect(p).toHaveProperty('default');
    }
  });

  it('has the same fields and defaults', () => {
    const defaults = Object.fromEntries(
      Object.entries(properties).map(([key, p]) => [key, p.default])
    );
    expect({ ...DEFAULT_CONFIG }).toEqual(defaults);
  });

  it('has the same modes and comparison limit', () => {
    expect([...MODES]).toEqual(properties.mode.enum);
    expect(MAX_COMPARE_MODELS).toBe(properties.compareModels.maxItems);
  });
});

describe('readConfig', () => {
  it('gives the defaults for an empty or malformed value', () => {
    expect(readConfig({})).toEqual(DEFAULT_CONFIG);
    expect(
      readConfig({
        model: 3,
        debounce: -1,
        exactTotalDelay: 'soon',
        includeOutputs: 'yes',
        showBadges: null,
        mode: 'fast',
        compareModels: 'a'
      })
    ).toEqual(DEFAULT_CONFIG);
  });

  it('keeps valid values, trimmed and within the comparison limit', () => {
    const config = readConfig({
      model: ' claude-x ',
      debounce: 0,
      exactTotalDelay: '500',
      includeOutputs: true,
      showBadges: false,
      mode: 'offline',
      compareModels: ['a', 7, 'b', 'c', 'd']
    });
    expect(config).toEqual({
      model: 'claude-x',
      debounce: 0,
      exactTotalDelay: 500,
      includeOutputs: true,
      showBadges: false,
      mode: 'offline',
      compareModels: ['a', 'b', 'c']
    });
    expect(config.compareModels).toHaveLength(MAX_COMPARE_MODELS);
  });

  it('does not share the default list', () => {
    expect(readConfig({}).compareModels).not.toBe(DEFAULT_CONFIG.compareModels);
  });
});

describe('changedKeys', () => {
  it('names the keys whose values differ', () => {
    const a = readConfig({});
    expect(changedKeys(a, { ...a, compareModels: [] })).toEqual([]);
    expect(changedKeys(a, { ...a, mode: 'api', compareModels: ['x'] })).toEqual(
      ['mode', 'compareModels']
    );
  });
});
