import type { IModelEntry } from '../api';
import { defaultCompareModels, toggleCompareModel } from '../comparison';
import { MAX_COMPARE_MODELS } from '../config';

const model = (id: string, tokenizer?: string, lifecycle?: string) =>
  ({
    id,
    display_name: id,
    tokenizer,
    lifecycle,
    context_window: null
  }) as IModelEntry;

// newest first, as GET /models lists them
const MODELS = [
  model('opus-5', 'v4.8'),
  model('sonnet-5', 'v4.8'),
  model('opus-4', 'v4.7'),
  model('haiku-4', 'v4.5'),
  model('sonnet-3', 'v3'),
  model('haiku-3', 'v3'),
  model('old-2', 'v2', 'retired')
];

describe('defaultCompareModels', () => {
  it('starts with the current model, then other generations, then other families', () => {
    expect(defaultCompareModels(MODELS, 'opus-5', 'v4.8')).toEqual([
      'opus-5',
      'sonnet-3',
      'opus-4'
    ]);
  });

  it('never picks a retired model nor more than the limit', () => {
    const picked = defaultCompareModels(MODELS, 'sonnet-3', 'v3');
    expect(picked).toEqual(['sonnet-3', 'opus-5', 'opus-4']);
    expect(picked).toHaveLength(MAX_COMPARE_MODELS);
    expect(defaultCompareModels(MODELS, undefined, undefined)).not.toContain(
      'old-2'
    );
  });

  it('without a current model picks one model per family', () => {
    expect(defaultCompareModels(MODELS, undefined, undefined)).toEqual([
      'opus-5',
      'opus-4',
      'haiku-4'
    ]);
  });
});

describe('toggleCompareModel', () => {
  it('adds up to the limit and removes', () => {
    expect(toggleCompareModel(['a'], 'b', true)).toEqual(['a', 'b']);
    expect(toggleCompareModel(['a', 'b', 'c'], 'd', true)).toEqual([
      'a',
      'b',
      'c'
    ]);
    expect(toggleCompareModel(['a', 'b'], 'a', false)).toEqual(['b']);
    expect(toggleCompareModel(['a', 'b'], 'a', true)).toEqual(['a', 'b']);
  });
});
