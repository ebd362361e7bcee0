/**
 * Arms and budgets (src/experiment/arms.ts): the layers resolve to the right training config (budget train <
 * budget challenger < ablation flip < arm overrides), an ablation flips exactly one option; the dev set is
 * disjoint from the held-out sets; the sweep's doc renders its rows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pairedRows } from '../src/eval/accuracy.ts';
import { ABLATED, ABLATION_ON, ALL_ARMS, armConfig, BUDGETS, budgetArms, type BudgetSpec, flipped } from '../src/experiment/arms.ts';
import { devPrompts } from '../src/experiment/dev.ts';
import { checkSavedConfig } from '../src/experiment/runner.ts';
import { sweepMarkdown } from '../src/experiment/sweep.ts';
import { trainConfigSchema } from '../src/rl/config.ts';
import { evalInstanceKeys } from '../src/world/evalset.ts';
import { instanceKey } from '../src/world/world.ts';

const run = { model: 'models/default', out: 'runs/x/arm', seed: 5, quiet: true, promptsFile: 'runs/x/grpo-prompts.jsonl' };
const arm = (name: string) => ALL_ARMS.find((a) => a.name === name)!;

test('arm configs: budget settings, challenger settings only with a challenger, arm overrides win', () => {
  const b = BUDGETS.small;
  const grpo = armConfig(b, arm('grpo'), run);
  assert.equal(grpo.mode, 'grpo');
  assert.equal(grpo.promptsFile, run.promptsFile);
  assert.equal(grpo.verifierReward, 'exact');
  assert.equal(grpo.lr, b.train.lr);
  assert.deepEqual([grpo.N, grpo.G, grpo.iterations, grpo.seed], [b.N, b.G, b.iterations, 5]);
  const defaults = trainConfigSchema.parse({});
  assert.equal(grpo.invalidQueryPenalty, defaults.invalidQueryPenalty, 'no challenger settings in GRPO');
  assert.equal(grpo.repetitionPenalty, defaults.repetitionPenalty);
  for (const name of ['lsp', 'lsp-zero']) {
    const c = armConfig(b, arm(name), run);
    assert.equal(c.promptsFile, null);
    assert.equal(c.verifierReward, 'exact');
    assert.equal(c.invalidQueryPenalty, b.challenger.invalidQueryPenalty);
    assert.equal(c.repetitionPenalty, b.challenger.repetitionPenalty);
    assert.equal(c.challengerReward, b.challenger.challengerReward);
  }
  const own = armConfig(b, { ...arm('lsp'), overrides: { lr: 7e-6, G: 3, invalidQueryPenalty: 0.25 } }, run);
  assert.deepEqual([own.lr, own.G, own.invalidQueryPenalty, own.N], [7e-6, 3, 0.25, b.N]);
});

test('ablation arms: fewer iterations, exactly one option flipped (on -> off, off -> on)', () => {
  const b: BudgetSpec = { ...BUDGETS.small, iterations: 30, ablationIterations: 12, challenger: { invalidQueryPenalty: 2, challengerReward: 'paper', repetitionPenalty: 0 } };
  assert.deepEqual(flipped(b, 'invalidQueryPenalty'), { invalidQueryPenalty: 0 });
  assert.deepEqual(flipped(b, 'challengerReward'), { challengerReward: 'uncertainty' });
  assert.deepEqual(flipped(b, 'repetitionPenalty'), { repetitionPenalty: ABLATION_ON.repetitionPenalty });
  const base = armConfig(b, arm('lsp'), run) as unknown as Record<string, unknown>;
  assert.equal(base.iterations, 30);
  for (const option of ABLATED) {
    const c = armConfig(b, arm(`lsp-flip-${option}`), run) as unknown as Record<string, unknown>;
    assert.equal(c.iterations, 12);
    const differ = Object.keys(base).filter((k) => k !== 'iterations' && JSON.stringify(base[k]) !== JSON.stringify(c[k]));
    assert.deepEqual(differ, [option], `${option}: ${differ}`);
  }
});

test('budgets: every listed arm exists, GRPO before LSP from GRPO, small keeps the paper claims\' arms', () => {
  for (const [name, b] of Object.entries(BUDGETS)) {
    assert.equal(budgetArms(b).length, b.arms.length, `${name}: unknown arm in ${b.arms}`);
    const names = budgetArms(b).map((a) => a.name);
    if (names.includes('lsp-from-grpo')) assert.ok(names.indexOf('grpo') < names.indexOf('lsp-from-grpo'));
    for (const a of budgetArms(b)) armConfig(b, a, run); // resolves without a conflict
  }
  for (const name of ['grpo', 'lsp-zero', 'lsp']) assert.ok(BUDGETS.small.arms.includes(name), name);
  assert.ok(BUDGETS.small.grpoFrontier, 'the small budget spends GRPO on the frontier');
});

test('dev set: seeded, distinct, disjoint from the held-out sets and the excluded instances', () => {
  const levels = [{ family: 'sort', difficulty: 3 }, { family: 'add', difficulty: 2 }];
  const a = devPrompts(levels, 20);
  assert.deepEqual(devPrompts(levels, 20), a, 'not deterministic');
  assert.equal(a.length, 40);
  const keys = a.map((p) => instanceKey(p.instance!));
  assert.equal(new Set(keys).size, 40);
  const held = evalInstanceKeys();
  assert.equal(keys.filter((k) => held.has(k)).length, 0);
  const b = devPrompts(levels, 20, keys.slice(0, 10));
  assert.equal(b.map((p) => instanceKey(p.instance!)).filter((k) => keys.slice(0, 10).includes(k)).length, 0, 'an excluded instance came back');
  assert.deepEqual(a.map((p) => [p.instance!.family, p.instance!.difficulty]).slice(19, 21), [['sort', 3], ['add', 2]]);
});

test('sweep doc: one row per run with the paired dev differences', () => {
  const item = (i: number, greedy: boolean, meanK: number) => ({ id: `d${i}`, family: 'sort', difficulty: 3, greedy, meanK, maj: greedy });
  const base = Array.from({ length: 8 }, (_, i) => item(i, i < 2, 0.25));
  const model = Array.from({ length: 8 }, (_, i) => item(i, i < 4, 0.5));
  const dev = pairedRows(model, base, { seed: 1 }).find((r) => r.group === 'overall')!;
  const text = sweepMarkdown({
    command: 'npx tsx scripts/sweep.ts', date: '2026-01-01T00:00:00Z', machine: '2 cores', model: 'models/default', seed: 1, k: 4, devItems: 8,
    frontier: [{ family: 'sort', difficulty: 3, successes: 5, trials: 8, rate: 0.625 }],
    rows: [{ name: 'grpo-a', mode: 'grpo', overrides: { lr: 1e-4, N: 8, G: 4, iterations: 40 }, trainSeconds: 80.4, dev, validLast: null, klSolver: 0.05 }],
  });
  assert.ok(text.includes('sort L3 (62.5%)'), text);
  assert.ok(text.includes('Base on the dev set: greedy 25.0%, mean@4 25.0%, maj@4 25.0%.'), text);
  assert.match(text, /\| grpo-a \| grpo \| 0\.0001 \| 8 \| 4 \| 40 \| 80 s \| \+25\.0 \[[+\d.]+, \+[\d.]+\] \(\+2\/-0, p 0\.500\) \| \+25\.0 \[\+25\.0, \+25\.0\] \(\+8\/-0, p 0\.008\) \| .* \| – \| 0\.050 \|/);
});

test('resume check: a setting added to the schema after the save passes at its default; a changed one is named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arm-saved-'));
  const config = armConfig(BUDGETS.small, arm('lsp'), { ...run, out: dir });
  const { microBatch: _dropped, ...older } = config as unknown as Record<string, unknown>; // as if saved before microBatch existed
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(older));
  checkSavedConfig(dir, config);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...older, lr: 5e-5 }));
  assert.throws(() => checkSavedConfig(dir, config), /differs from this experiment in lr; choose another --out/);
  assert.throws(() => checkSavedConfig(dir, { ...config, microBatch: 7 }), /differs from this experiment in lr, microBatch; /);
});
