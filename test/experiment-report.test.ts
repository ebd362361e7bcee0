/**
 * The experiment's write-up on synthetic results with known answers: the verdict against the base follows the
 * 95% interval, the order and pairwise comparisons follow the numbers, a falling challenger validity is reported
 * as such, and the tables carry the numbers (src/experiment/paper-report.ts, paper-narrative.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { SubsetStats } from '../src/eval/stats.ts';
import { windowStats } from '../src/experiment/diversity.ts';
import { narrative } from '../src/experiment/paper-narrative.ts';
import { writePaperDoc } from '../src/experiment/paper-report.ts';
import { ARMS, BUDGETS } from '../src/experiment/paper.ts';
import type { PaperResults } from '../src/experiment/results.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';

function stats(subset: string, wins: number, ties: number, losses: number, lo: number, hi: number): SubsetStats {
  const n = wins + ties + losses;
  const winRate = (wins + ties / 2) / n;
  return { subset, n, wins, ties, losses, winRate, winRateCI: { lo, hi }, lcWinRate: winRate, lcWinRateCI: { lo, hi }, meanModelLength: 3, meanBaselineLength: 3 };
}

/** Overall win rates 60 (above 50), 40 (below), 52 (contains 50), 62 (above); per family one family stands out. */
const OVERALL: Record<string, [number, number, number, number, number]> = {
  grpo: [60, 0, 40, 0.55, 0.65],
  'lsp-zero': [40, 0, 60, 0.34, 0.44],
  lsp: [52, 0, 48, 0.45, 0.58],
  'lsp-from-grpo': [62, 0, 38, 0.56, 0.68],
};

const queries = (valid: number, invalid: number) => [...Array(valid).fill('What is 3 plus 4?'), ...Array(invalid).fill('hello there')];

function results(): PaperResults {
  const accuracy = [...FAMILY_NAMES, 'overall'].map((family) => ({ family, n: 10, exact: 0.5, meanScore: 0.7 }));
  return {
    command: 'npx selfplay experiment paper --budget small --seed 1',
    date: '2026-01-01T00:00:00.000Z',
    machine: '2 cores (test)',
    model: 'models/default',
    budget: 'small',
    spec: { ...BUDGETS.small, iterations: 6 },
    seed: 1,
    out: 'runs/x',
    evalItems: 100,
    generation: { temperature: 0.01, maxTokens: 64, seed: 1 },
    arms: ARMS.map((arm) => ({
      ...arm,
      startModel: 'models/default',
      trainSeconds: 90,
      metrics: Array.from({ length: 6 }, (_, i) => ({ iteration: i + 1, 'solver/reward/mean': i < 2 ? 0.25 : 0.5, 'kl/solver': 0.1, 'kl/challenger': arm.mode === 'grpo' ? NaN : 0.3 })),
      diversity:
        arm.mode === 'grpo'
          ? []
          : [windowStats(queries(8, 2), 1, 2), windowStats(queries(5, 5), 3, 4), windowStats(queries(2, 8), 5, 6)],
    })),
    evals: [
      { name: 'base', dir: 'models/default', accuracy },
      ...ARMS.map((arm) => {
        const [w, t, l, lo, hi] = OVERALL[arm.name];
        const subsets = FAMILY_NAMES.map((f, i) => (i === 4 ? stats(f, 9, 0, 1, 0.7, 1) : stats(f, 5, 0, 5, 0.2, 0.8)));
        return { name: arm.name, dir: `runs/x/${arm.name}/model`, accuracy, vsBase: { overall: stats('overall', w, t, l, lo, hi), subsets } };
      }),
    ],
    evalSeconds: { base: 30, grpo: 31 },
  };
}

test('narrative: verdicts follow the intervals, the order follows the numbers, a validity fall is named', () => {
  const lines = narrative(results());
  const line = (start: string) => lines.find((l) => l.startsWith(start)) ?? assert.fail(`no line starting "${start}" in:\n${lines.join('\n')}`);
  assert.match(line('GRPO (with data): '), /^GRPO \(with data\): 60\.0% \[55\.0, 65\.0\] against the base \(60 wins, 0 ties, 40 losses of 100\): better than the base/);
  assert.match(line('LSP-Zero: '), /worse than the base/);
  assert.match(line('LSP: '), /not distinguishable from the base/);
  assert.equal(line('Order by'), "Order by overall win rate here: LSP from GRPO 62.0 > GRPO (with data) 60.0 > LSP 52.0 > LSP-Zero 40.0; the paper's: LSP from GRPO 43.1 > GRPO (with data) 40.9 > LSP 40.6 > LSP-Zero 40.1.");
  assert.match(line('LSP from GRPO (62.0)'), /is above GRPO \(with data\) \(60\.0\); their intervals overlap/);
  assert.match(line('LSP (52.0) is above LSP-Zero'), /their intervals do not overlap/);
  assert.match(line('LSP (52.0) is below GRPO'), /overlap/);
  assert.equal(line('LSP-Zero per family'), 'LSP-Zero per family: highest add 90.0% [70.0, 100.0], lowest largest 50.0% [20.0, 80.0].');
  assert.equal(line('LSP-Zero challenger validity'), 'LSP-Zero challenger validity: 80.0% of queries in iterations 1-2, 20.0% in 5-6 — it fell by more than half; lowest 20.0% in 5-6.');
  assert.match(line('LSP-Zero query diversity'), /most common family in the last window: add \(100\.0% of 2 valid queries\)/);
  assert.match(line('LSP training'), /mean solver reward 0\.250 in iterations 1-2, 0\.500 in 5-6; mean KL to its reference in 5-6: solver 0\.100, challenger 0\.300/);
  assert.doesNotMatch(line('GRPO (with data) training'), /challenger/);
});

test('doc: tables carry the numbers beside the paper, figures are written next to it and linked', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'paper-doc-'));
  const doc = path.join(dir, 'results', 'paper.md');
  const files = writePaperDoc(doc, results());
  const text = fs.readFileSync(doc, 'utf8');
  assert.ok(text.includes('| GRPO (with data) | 60.0 | [55.0, 65.0] | 60 / 0 / 40 | 40.9 |'), 'overall row');
  assert.ok(text.includes('| LSP-Zero | 50.0 [20.0, 80.0] | 50.0 [20.0, 80.0] | 50.0 [20.0, 80.0] | 50.0 [20.0, 80.0] | 90.0 [70.0, 100.0] | 50.0 [20.0, 80.0] |'), 'family row');
  assert.ok(text.includes('| 1-2 | 10 | 80.0 |'), 'diversity row');
  assert.ok(text.includes('| add 8 | L1 8 |'), 'histograms');
  assert.ok(text.includes('| GRPO (with data) | `models/default` | 6 | 1m30s | 31s |'), 'wall time row');
  for (const f of files.slice(1)) {
    assert.equal(path.dirname(f), path.dirname(doc));
    assert.ok(text.includes(`](${path.basename(f)})`), `${f} not linked`);
    const svg = fs.readFileSync(f, 'utf8');
    assert.match(svg, /^<svg [\s\S]*<\/svg>\n$/);
    assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  }
  assert.equal(files.filter((f) => f.endsWith('.svg')).length, 9);
});
