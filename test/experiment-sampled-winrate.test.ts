/** The sampled-policy win rate (src/experiment/paper-eval.ts): per item, more exact answers among k samples wins. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ItemOutcome } from '../src/eval/accuracy.ts';
import { summarize } from '../src/eval/stats.ts';
import { sampledPreferences } from '../src/experiment/paper-eval.ts';

const item = (id: string, family: string, meanK: number): ItemOutcome => ({ id, family, difficulty: 1, greedy: false, meanK, maj: false });

test('sampled preferences: higher mean@k wins, equal (0 vs 0, 1 vs 1, 0.5 vs 0.5) ties', () => {
  const base = [item('a', 'sort', 0.25), item('b', 'sort', 0.5), item('c', 'add', 0), item('d', 'add', 1), item('e', 'add', 0.5)];
  const model = [item('a', 'sort', 0.5), item('b', 'sort', 0.25), item('c', 'add', 0), item('d', 'add', 1), item('e', 'add', 0.5)];
  assert.deepEqual(sampledPreferences(model, base).map((p) => p.preference), [1, 0, 0.5, 0.5, 0.5]);
  const { overall, subsets } = summarize(sampledPreferences(model, base), { seed: 1 });
  assert.equal(overall.winRate, 0.5);
  assert.deepEqual([overall.wins, overall.ties, overall.losses], [1, 3, 1]);
  assert.deepEqual(subsets.map((s) => [s.subset, s.n]), [['sort', 2], ['add', 3]]);
});

test('sampled preferences: a model better on every contested item has its interval above 50%', () => {
  const base = Array.from({ length: 200 }, (_, i) => item(`i${i}`, 'sort', i % 2 ? 0.25 : 1));
  const model = base.map((b) => ({ ...b, meanK: b.meanK === 1 ? 1 : 0.5 }));
  const { overall } = summarize(sampledPreferences(model, base), { seed: 1 });
  assert.equal(overall.winRate, 0.75);
  assert.ok(overall.winRateCI.lo > 0.5, `interval ${JSON.stringify(overall.winRateCI)}`);
});

test('sampled preferences: items in another order are refused, naming the item', () => {
  assert.throws(() => sampledPreferences([item('a', 'sort', 1)], [item('b', 'sort', 1)]), /item 0 is a for the model and b for the base/);
});
