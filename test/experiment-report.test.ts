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
import { accuracyRows, type ItemOutcome, pairedRows } from '../src/eval/accuracy.ts';
import type { SubsetStats } from '../src/eval/stats.ts';
import { ALL_ARMS, armOverrides, BUDGETS } from '../src/experiment/arms.ts';
import { windowStats } from '../src/experiment/diversity.ts';
import { narrative } from '../src/experiment/paper-narrative.ts';
import { writePaperDoc } from '../src/experiment/paper-report.ts';
import { ablationTable, claims, pairedAccuracyTable } from '../src/experiment/paper-tables.ts';
import type { PaperResults } from '../src/experiment/results.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';

function stats(subset: string, wins: number, ties: number, losses: number, lo: number, hi: number): SubsetStats {
  const n = wins + ties + losses;
  const winRate = (wins + ties / 2) / n;
  return { subset, n, wins, ties, losses, winRate, winRateCI: { lo, hi }, lcWinRate: winRate, lcWinRateCI: { lo, hi }, meanModelLength: 3, meanBaselineLength: 3 };
}

/** Overall win rates 60 (above 50), 40 (below), 52 (contains 50), 62 (above); the ablation arms 50. */
const OVERALL: Record<string, [number, number, number, number, number]> = {
  grpo: [60, 0, 40, 0.55, 0.65],
  'lsp-zero': [40, 0, 60, 0.34, 0.44],
  lsp: [52, 0, 48, 0.45, 0.58],
  'lsp-from-grpo': [62, 0, 38, 0.56, 0.68],
};

const queries = (valid: number, invalid: number) => [...Array(valid).fill('What is 3 plus 4?'), ...Array(invalid).fill('hello there')];

/** 10 items; the base gets the first 4 right greedily and 1 of 4 samples of each; GRPO the first 6 and 2 of 4. */
function items(greedyRight: number, meanK: number): ItemOutcome[] {
  return Array.from({ length: 10 }, (_, i) => ({ id: `w${i}`, family: i < 5 ? 'sort' : 'count', difficulty: 1 + (i % 2), greedy: i < greedyRight, meanK, maj: i < greedyRight }));
}

function results(): PaperResults {
  const spec = { ...BUDGETS.small, iterations: 6, ablationIterations: 6 };
  const base = items(4, 0.25);
  const armItems = (name: string) => (name === 'grpo' ? items(6, 0.5) : base);
  return {
    command: 'npx selfplay experiment paper --budget small --seed 1',
    date: '2026-01-01T00:00:00.000Z',
    machine: '2 cores (test)',
    model: 'models/default',
    budget: 'small',
    spec,
    grpoFrontier: { lo: 0.2, hi: 0.8 },
    seed: 1,
    out: 'runs/x',
    evalItems: 10,
    settings: { k: 4, maxTokens: 64, seed: 1 },
    arms: ALL_ARMS.map((arm) => {
      const c = resolveConfig({}, { iterations: spec.iterations, mode: arm.mode, promptsFile: arm.mode === 'grpo' ? 'p.jsonl' : undefined, ...armOverrides(spec, arm) });
      const lspValid = arm.name === 'lsp' ? [queries(10, 0), queries(10, 0), queries(9, 1)] : [queries(8, 2), queries(5, 5), queries(2, 8)];
      return {
        ...arm,
        startModel: 'models/default',
        iterations: c.iterations,
        config: { lr: c.lr, N: c.N, G: c.G, verifierReward: c.verifierReward, challengerReward: c.challengerReward, invalidQueryPenalty: c.invalidQueryPenalty, repetitionPenalty: c.repetitionPenalty },
        trainSeconds: 90,
        metrics: Array.from({ length: 6 }, (_, i) => ({ iteration: i + 1, 'solver/reward/mean': i < 2 ? 0.25 : 0.5, 'kl/solver': 0.1, 'kl/challenger': arm.mode === 'grpo' ? NaN : 0.3 })),
        diversity: arm.mode === 'grpo' ? [] : lspValid.map((q, i) => windowStats(q, 2 * i + 1, 2 * i + 2)),
      };
    }),
    evals: [
      { name: 'base', dir: 'models/default', accuracy: accuracyRows(base) },
      ...ALL_ARMS.map((arm) => {
        const [w, t, l, lo, hi] = OVERALL[arm.name] ?? [50, 0, 50, 0.4, 0.6];
        const subsets = FAMILY_NAMES.map((f, i) => (i === 4 ? stats(f, 9, 0, 1, 0.7, 1) : stats(f, 5, 0, 5, 0.2, 0.8)));
        const mine = armItems(arm.name);
        return { name: arm.name, dir: `runs/x/${arm.name}/model`, accuracy: accuracyRows(mine), paired: pairedRows(mine, base, { seed: 1 }), vsBase: { overall: stats('overall', w, t, l, lo, hi), subsets }, vsBaseSampled: { overall: stats('overall', 30, 60, 10, 0.55, 0.65), subsets } };
      }),
    ],
    evalSeconds: { base: 30, grpo: 31 },
    probeSeconds: 12,
    sessionSeconds: 100,
  };
}

test('paired accuracy table: accuracies and differences with gained/lost and the sign test', () => {
  const text = pairedAccuracyTable(results());
  assert.ok(text.includes('| Base | 40.0 | 25.0 | 40.0 |'), text);
  // GRPO: greedy 4 -> 6 right (+2/-0, p = 0.5); mean@4 0.25 -> 0.5 on all 10 items (+10/-0, p = 2/1024)
  assert.match(text, /\| GRPO \(with data\) \| 60\.0 \| 50\.0 \| 60\.0 \| \+20\.0 \[\+?[\d.]+, \+[\d.]+\] \(\+2\/-0, p 0\.500\) \| \+25\.0 \[\+25\.0, \+25\.0\] \(\+10\/-0, p 0\.002\) \|/);
  assert.match(text, /\| LSP-Zero \| 40\.0 \| 25\.0 \| 40\.0 \| 0\.0 \[0\.0, 0\.0\] \(\+0\/-0, p 1\.000\) \|/);
});

test('ablation table: option states from the resolved configs, validity, diversity and accuracy per arm', () => {
  const text = ablationTable(results());
  const rows = text.split('\n').slice(2);
  assert.equal(rows.length, 5, text);
  // the budget's LSP: invalid penalty 1, paper challenger reward, repetition penalty 0.5; each ablation flips one
  assert.match(rows[0], /^\| LSP \| on \(1\) \| off \| on \(0\.5\) \| 6 \| 96\.7 \| 90\.0 \|/);
  assert.match(rows[1], /^\| LSP, invalid-query penalty flipped \| off \| off \| on \(0\.5\) \| 6 \| 50\.0 \| 20\.0 \|/);
  assert.match(rows[2], /^\| LSP, uncertainty reward flipped \| on \(1\) \| on \| on \(0\.5\) \|/);
  assert.match(rows[3], /^\| LSP, repetition penalty flipped \| on \(1\) \| off \| off \|/);
  assert.match(rows[4], /^\| LSP-Zero, invalid-query penalty flipped \| off \| off \| on \(0\.5\) \| 6 \| 50\.0 \|/);
});

test('claims: reproduced only when the interval says so, with the numbers', () => {
  const lines = claims(results());
  assert.match(lines[0], /^GRPO \(with data\) beats the base .*: greedy \*\*reproduced\*\* — 60\.0% \[55\.0, 65\.0\].*; sampled policy \(k = 4\): \*\*reproduced\*\* — 60\.0% \[55\.0, 65\.0\], 30 wins \/ 60 ties \/ 10 losses of 100\.$/);
  assert.match(lines[1], /^LSP beats the base .*: greedy \*\*not reproduced\*\* — 52\.0% \[45\.0, 58\.0\]/);
  assert.match(lines[2], /^LSP within noise of GRPO .*: \*\*reproduced\*\* — LSP 52\.0% \[45\.0, 58\.0\], GRPO 60\.0% \[55\.0, 65\.0\]\.$/);
  // LSP 29 of 30 valid, LSP-Zero 15 of 30: +46.7 points, interval well above 0
  assert.match(lines[5], /^Held-out accuracy against the base .*GRPO \(with data\) greedy \+20\.0 .*, mean@4 \+25\.0 \[\+25\.0, \+25\.0\] \(\+10\/-0, p 0\.002\); LSP-Zero/);
  assert.match(lines[3], /^LSP keeps more valid queries than LSP-Zero \(the budget's rewards, .*: \*\*reproduced\*\* — LSP 96\.7% \(29 \/ 30\), LSP-Zero 50\.0% \(15 \/ 30\), difference \+46\.7 points/);
  // under the paper's own reward both arms are at 15 of 30: no difference
  assert.match(lines[4], /^LSP keeps more valid queries than LSP-Zero \(the paper's challenger reward, no invalid-query penalty; .*: \*\*not reproduced\*\* — LSP 50\.0% \(15 \/ 30\), LSP-Zero 50\.0% \(15 \/ 30\), difference 0\.0 points/);
});

test('narrative: verdicts follow the intervals, the order follows the numbers, a validity fall is named', () => {
  const lines = narrative(results());
  const line = (start: string) => lines.find((l) => l.startsWith(start)) ?? assert.fail(`no line starting "${start}" in:\n${lines.join('\n')}`);
  assert.match(line('GRPO (with data): '), /^GRPO \(with data\): 60\.0% \[55\.0, 65\.0\] against the base \(60 wins, 0 ties, 40 losses of 100\): better than the base/);
  assert.match(line('LSP-Zero: '), /worse than the base/);
  assert.match(line('LSP: '), /not distinguishable from the base/);
  assert.equal(line('Order of'), "Order of the paper's arms by overall win rate here: LSP from GRPO 62.0 > GRPO (with data) 60.0 > LSP 52.0 > LSP-Zero 40.0; the paper's: LSP from GRPO 43.1 > GRPO (with data) 40.9 > LSP 40.6 > LSP-Zero 40.1.");
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
  const files = writePaperDoc(doc, results(), [{ ...results(), seed: 2, out: 'runs/y' }]);
  if (process.env.SHOW_DOC) console.log(fs.readFileSync(doc, 'utf8'));
  const text = fs.readFileSync(doc, 'utf8');
  assert.ok(text.includes('| GRPO (with data) | 60.0 | [55.0, 65.0] | 60 / 0 / 40 | 60.0 | [55.0, 65.0] | 30 / 60 / 10 | 40.9 |'), 'overall row');
  assert.ok(text.includes('| LSP-Zero | 50.0 [20.0, 80.0] | 50.0 [20.0, 80.0] | 50.0 [20.0, 80.0] | 50.0 [20.0, 80.0] | 90.0 [70.0, 100.0] | 50.0 [20.0, 80.0] |'), 'family row');
  assert.ok(text.includes('| 1-2 | 10 | 80.0 |'), 'diversity row');
  assert.ok(text.includes('| add 8 | L1 8 |'), 'histograms');
  assert.ok(text.includes('| GRPO (with data) | `models/default` | 6 | 1m30s | 31s |'), 'wall time row');
  assert.match(text, /Another run of the same command with seed 2 \(`runs\/y`, 2026-01-01, model `models\/default`, budget small\):\n\n- GRPO \(with data\) beats the base/);
  assert.ok(text.includes('## Did the paper\'s claims reproduce?') && text.includes('## Ablation: the challenger reward options'), 'sections');
  assert.ok(text.includes('| LSP | lsp | 6 | 0.00001 | 8 | 4 | exact | invalid-query penalty 1, challenger reward paper, repetition penalty 0.5 |'), 'arm settings row');
  for (const f of files.slice(1)) {
    assert.equal(path.dirname(f), path.dirname(doc));
    assert.ok(text.includes(`](${path.basename(f)})`), `${f} not linked`);
    const svg = fs.readFileSync(f, 'utf8');
    assert.match(svg, /^<svg [\s\S]*<\/svg>\n$/);
    assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  }
  assert.equal(files.filter((f) => f.endsWith('.svg')).length, 9);
});
