import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auc, qualityChecks, spearman, type WorldQuality } from '../src/eval/world-quality.ts';
import { frontierCheck, frontierDevPrompts, frontierLevels, isFrontier, type FrontierLevel } from '../src/eval/world-frontier.ts';
import { evalInstanceKeys } from '../src/world/evalset.ts';
import { FAMILY_NAMES, MAX_DIFFICULTY } from '../src/world/types.ts';
import { instanceKey, referenceAnswer } from '../src/world/world.ts';

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
    frontier: { k: 8, levels: [{ family: 'add', difficulty: 2, n: 20, greedy: 0.4, meanK: 0.3, passK: 0.7 }] },
  };
  assert.ok(qualityChecks(q).every((c) => c.pass), JSON.stringify(qualityChecks(q)));
  const bad = { ...q, judge: { ...q.judge, auc: 0.7 }, challenger: q.challenger.map((c) => ({ ...c, levels: [9, 0, 0, 0, 0, 0] })) };
  const failed = qualityChecks(bad).filter((c) => !c.pass).map((c) => c.name);
  assert.deepEqual(failed, ['challenger difficulty spread (no level > 80% of a family)', 'judge AUC valid vs invalid >= 0.9']);
  const flat = { ...q, frontier: { k: 8, levels: [{ family: 'add', difficulty: 2, n: 20, greedy: 0.4, meanK: 0.4, passK: 0.45 }] } };
  assert.deepEqual(qualityChecks(flat).filter((c) => !c.pass).map((c) => c.value), ['in no family; none in add']);
});

const level = (family: string, difficulty: number, greedy: number, passK: number): FrontierLevel => ({ family, difficulty, n: 20, greedy, meanK: greedy, passK });

test('frontier level: greedy in [20%, 70%] and pass@k at least 10 points above it', () => {
  assert.equal(isFrontier(level('sort', 4, 0.47, 0.8)), true);
  assert.equal(isFrontier(level('sort', 4, 0.2, 0.3)), true, 'both bounds inclusive');
  assert.equal(isFrontier(level('sort', 4, 0.7, 0.8)), true);
  assert.equal(isFrontier(level('sort', 1, 0.95, 1)), false, 'solved');
  assert.equal(isFrontier(level('sort', 6, 0.1, 0.6)), false, 'hopeless greedy');
  assert.equal(isFrontier(level('sort', 3, 0.5, 0.55)), false, 'samples add nothing');
  const ok = frontierCheck([level('sort', 1, 1, 1), level('sort', 4, 0.5, 0.8), level('add', 2, 0.3, 0.6)]);
  assert.equal(ok.pass, true);
  const missing = frontierCheck([level('sort', 4, 0.5, 0.8), level('reverse', 2, 1, 1), level('reverse', 3, 0, 0)]);
  assert.deepEqual([missing.pass, missing.value], [false, 'in sort; none in reverse']);
  assert.equal(frontierCheck([]).pass, false, 'no levels measured is no frontier');
  // six families: three with a frontier is enough (the copy-like families have a length cliff), two is not
  const cliff = ['reverse', 'uppercase', 'repeat'].flatMap((f) => [level(f, 3, 1, 1), level(f, 4, 0, 0)]);
  const three = frontierCheck([...cliff, level('sort', 4, 0.5, 0.7), level('add', 3, 0.2, 0.45), level('largest', 4, 0.45, 0.75)]);
  assert.deepEqual([three.pass, three.value], [true, 'in sort, add, largest; none in reverse, uppercase, repeat']);
  const two = frontierCheck([...cliff, level('sort', 4, 0.5, 0.7), level('add', 3, 0.1, 0.45), level('largest', 4, 0.45, 0.75)]);
  assert.deepEqual([two.pass, two.value], [false, 'in sort, largest; none in reverse, uppercase, repeat, add']);
});

test('frontier levels: greedy, mean@k and pass@k per (family, level) from the answers, checked by the verifier', () => {
  const prompts = frontierDevPrompts(2).filter((p) => p.instance!.family === 'sort' && p.instance!.difficulty <= 2);
  assert.equal(prompts.length, 4);
  const right = prompts.map((p) => referenceAnswer(p.instance!));
  // level 1: item 0 greedy right, 1 of 4 samples right; item 1 greedy wrong, no sample right
  // level 2: item 0 greedy wrong, 2 of 4 right; item 1 greedy right, 4 of 4 right
  const answers = {
    greedy: [right[0], 'x', 'x', right[3]],
    samples_I_K: [[right[0], 'a', 'b', 'c'], ['a', 'b', 'c', 'd'], [right[2], right[2], 'a', 'b'], [right[3], right[3], right[3], right[3]]],
  };
  assert.deepEqual(frontierLevels(prompts, answers), [
    { family: 'sort', difficulty: 1, n: 2, greedy: 0.5, meanK: 0.125, passK: 0.5 },
    { family: 'sort', difficulty: 2, n: 2, greedy: 0.5, meanK: 0.75, passK: 1 },
  ]);
});

test('frontier dev draw: deterministic, every family and level, distinct, disjoint from the held-out files', () => {
  const a = frontierDevPrompts(6);
  assert.deepEqual(a.map((p) => p.instruction), frontierDevPrompts(6).map((p) => p.instruction));
  assert.equal(a.length, FAMILY_NAMES.length * MAX_DIFFICULTY * 6);
  const held = evalInstanceKeys();
  const keys = a.map((p) => instanceKey(p.instance!));
  assert.equal(new Set(keys).size, keys.length);
  assert.ok(keys.every((k) => !held.has(k)));
  for (const f of FAMILY_NAMES) for (let d = 1; d <= MAX_DIFFICULTY; d++) assert.equal(a.filter((p) => p.instance!.family === f && p.instance!.difficulty === d).length, 6);
});
