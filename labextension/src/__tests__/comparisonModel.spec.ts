import type { ICellsResult, IModelEntry } from '../api';
import type { ModelCatalog } from '../catalog';
import { ModelComparison } from '../comparison';
import type { ITokenCountConfig } from '../config';
import { readConfig } from '../config';
import type { NotebookCounter } from '../counter';
import type { TokenCountSettings } from '../settings';

const result = (model: string, total: number) =>
  ({ model, total, exact: true }) as ICellsResult;

/** Stand-ins with just what ModelComparison reads. */
function setUp(compareModels: string[] = []) {
  let config: ITokenCountConfig = { ...readConfig({}), compareModels };
  const settings = {
    get config() {
      return config;
    },
    set: async (key: keyof ITokenCountConfig, value: unknown) => {
      config = { ...config, [key]: value };
    }
  } as unknown as TokenCountSettings;
  const models: IModelEntry[] = [
    { id: 'a', display_name: 'A', tokenizer: 'v4', context_window: 1 },
    { id: 'b', display_name: 'B', tokenizer: 'v3', context_window: 1 }
  ];
  const catalog = {
    models: { default_model: 'a', models },
    effectiveModel: (setting: string) => setting || 'a',
    find: (id?: string) => models.find(m => m.id === id)
  } as unknown as ModelCatalog;
  const answers = new Map<string, (r: ICellsResult) => void>();
  const asked: string[] = [];
  const counter = {
    result: result('a', 100),
    countWith: (model: string) => {
      asked.push(model);
      return new Promise<ICellsResult>(resolve => answers.set(model, resolve));
    }
  };
  const comparison = new ModelComparison({ settings, catalog });
  comparison.counter = counter as unknown as NotebookCounter;
  return { comparison, counter, answers, asked, settings };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('ModelComparison', () => {
  it('answers for the notebook’s own model and asks once for each other model', async () => {
    const { comparison, answers, asked } = setUp();
    let changes = 0;
    comparison.changed.connect(() => changes++);
    expect(comparison.selected).toEqual(['a', 'b']);
    expect(comparison.rows()).toEqual([
      { id: 'a', result: result('a', 100), error: undefined },
      { id: 'b', result: undefined, error: undefined }
    ]);
    comparison.rows(); // rendering again sends nothing new
    expect(asked).toEqual(['b']);
    answers.get('b')!(result('b', 120));
    await flush();
    expect(changes).toBe(1);
    expect(comparison.rows()[1].result?.total).toBe(120);
    expect(asked).toEqual(['b']);
  });

  it('asks again after a counted edit, showing the previous count meanwhile', async () => {
    const { comparison, counter, answers, asked } = setUp();
    comparison.rows();
    answers.get('b')!(result('b', 120));
    await flush();
    counter.result = result('a', 150);
    expect(comparison.rows()[1].result?.total).toBe(120);
    expect(asked).toEqual(['b', 'b']);
  });

  it('drops the answers of another notebook and shows errors', async () => {
    const { comparison, answers } = setUp();
    let changes = 0;
    comparison.changed.connect(() => changes++);
    comparison.rows();
    const late = answers.get('b')!;
    comparison.counter = null;
    expect(comparison.rows()).toEqual([]);
    late(result('b', 1));
    await flush();
    expect(changes).toBe(0);
  });

  it('keeps the user’s choice within the limit', async () => {
    const { comparison, settings } = setUp(['a']);
    expect(comparison.canAdd).toBe(true);
    await comparison.toggle('b', true);
    await comparison.toggle('c', true);
    await comparison.toggle('d', true);
    expect(settings.config.compareModels).toEqual(['a', 'b', 'c']);
    expect(comparison.canAdd).toBe(false);
  });

  it('reports a failed count in its row', async () => {
    const { comparison, counter } = setUp(['b']);
    counter.countWith = () => Promise.reject(new Error('rate limited'));
    comparison.rows();
    await flush();
    expect(comparison.rows()).toEqual([
      { id: 'b', result: undefined, error: 'rate limited' }
    ]);
  });
});
