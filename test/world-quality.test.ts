import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auc, qualityChecks, spearman, type WorldQuality } from '../src/eval/world-quality.ts';

test('spearman: monotone = 1, reversed = -1, hand-computed value with ties', () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // x ranks 1,2,3,4; y = [1,1,2,3] ranks 1.5,1.5,3,4 -> pearson of ranks
  const r = spearman([1, 2, 3, 4], [1, 1, 2, 3]);
  const rx = [1, 2, 3, 4];
  const ry = [1.5, 1.5, 3, 4];
  const m = 2.5;
  const num = rx.reduce((a, x, i) => a + (x - m) * (ry[i] - m), 0);
  const den = Math.sqrt(rx.reduce((a, x) => a + (x - m) ** 2, 0) * ry.reduce((a, y) => a + (y - m) ** 2, 0));
  assert.ok(Math.abs(r - num / den) < 1e-12, `${r} vs ${num / den}`);
});

test('auc: perfect separation 1, reversed 0, ties count half', () => {
  assert.equal(auc([5, 6, 1, 2], [true, true, false, false]), 1);
  assert.equal(auc([1, 2, 5, 6], [true, true, false, false]), 0);
  assert.equal(auc([3, 3], [true, false]), 0.5);
  assert.equal(auc([3, 4, 3], [true, true, false]), 0.75);
});

test('quality checks: the issue bar, pass and fail', () => {
  const q: WorldQuality = {
    challenger: Array.from({ length: 6 }, () => ({ family: 'add' as const, samples: 10, validShare: 0.95, levels: [2, 2, 2, 2, 1, 0] })),
    solver: Array.from({ length: 6 }, (_, i) => ({ family: 'add' as const, easy: i < 4 ? 0.5 : 0.95, hard: 0.1, n: 120 })),
    judge: { samples: 10, parseRate: 1, spearman: 0.5, auc: 0.95, meanScoreValid: 5, meanScoreInvalid: 1 },
  };
  assert.ok(qualityChecks(q).every((c) => c.pass), JSON.stringify(qualityChecks(q)));
  const bad = { ...q, judge: { ...q.judge, auc: 0.7 }, challenger: q.challenger.map((c) => ({ ...c, levels: [9, 0, 0, 0, 0, 0] })) };
  const failed = qualityChecks(bad).filter((c) => !c.pass).map((c) => c.name);
  assert.deepEqual(failed, ['challenger difficulty spread (no level > 80% of a family)', 'judge AUC valid vs invalid >= 0.9']);
});
