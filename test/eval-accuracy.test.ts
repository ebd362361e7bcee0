/**
 * Accuracy evaluation: the paired statistics against hand-computed values and exact (BigInt) references, the
 * per-group accuracy of scripted answers, --limit's spread, and `selfplay eval --accuracy` end to end on
 * models/default (a few items), with its answers checked against the verifier.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { accuracyRows, itemOutcomes, pairedRows, spreadLimit } from '../src/eval/accuracy.ts';
import { majorityAnswer, pairedBinary, pairedRates, signTestP } from '../src/eval/paired.ts';
import { worldPrompts } from '../src/eval/sets.ts';
import { LARGE_EVAL_SET_PATH } from '../src/world/evalset.ts';
import { referenceAnswer, scoreAnswer } from '../src/world/world.ts';

const root = path.join(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-accuracy-'));

/** The exact two-sided sign test with BigInt binomial coefficients. */
function naiveSignP(a: number, b: number): number {
  const n = a + b;
  const k = Math.min(a, b);
  let c = 1n;
  let tail = 0n;
  for (let i = 0; i <= n; i++) {
    if (i > 0) c = (c * BigInt(n - i + 1)) / BigInt(i);
    if (i <= k || i >= n - k) tail += c;
  }
  const scale = 10n ** 30n;
  return Math.min(1, Number((tail * scale) / 2n ** BigInt(n)) / 1e30);
}

test('sign test: hand-computed values and the exact BigInt sum, also for thousands of items', () => {
  assert.equal(signTestP(0, 0), 1);
  assert.ok(Math.abs(signTestP(0, 5) - 0.0625) < 1e-15); // 2 / 32
  assert.ok(Math.abs(signTestP(1, 9) - 22 / 1024) < 1e-15, `${signTestP(1, 9)}`);
  assert.equal(signTestP(5, 5), 1);
  for (const [a, b] of [[19, 41], [41, 19], [3, 4], [0, 30], [2000, 2150], [120, 80], [7, 7]]) {
    const ours = signTestP(a, b);
    const exact = naiveSignP(a, b);
    assert.ok(Math.abs(ours - exact) <= 1e-9 * Math.max(exact, 1e-12) + 1e-15, `${a} vs ${b}: ${ours} vs ${exact} (diff ${Math.abs(ours - exact)})`);
  }
  assert.ok(Math.abs(signTestP(19, 41) - 0.0058) < 0.0005, 'the issue quotes p = 0.006 for 19 gained, 41 lost');
});

test('paired binary and rate comparisons: counts, differences and intervals', () => {
  const b = pairedBinary([true, true, false, false, true], [false, true, true, false, false], { resamples: 500 });
  assert.deepEqual([b.n, b.gained, b.lost, b.modelAcc, b.baseAcc], [5, 2, 1, 0.6, 0.4]);
  assert.ok(Math.abs(b.diff - 0.2) < 1e-12);
  assert.equal(b.p, 1); // 2 * (1 + 3) / 8, capped
  assert.ok(b.diffCI.lo <= 0.2 && b.diffCI.hi >= 0.2 && b.diffCI.lo >= -1 && b.diffCI.hi <= 1);
  const constant = pairedBinary([true, true, true], [false, false, false]);
  assert.deepEqual(constant.diffCI, { lo: 1, hi: 1 });
  assert.ok(Math.abs(constant.p - 0.25) < 1e-12, `${constant.p}`);
  const r = pairedRates([0.5, 0.25, 1, 0], [0.25, 0.25, 0.5, 0.5]);
  assert.deepEqual([r.gained, r.lost, r.modelMean, r.baseMean], [2, 1, 0.4375, 0.375]);
  assert.ok(Math.abs(r.diff - 0.0625) < 1e-12);
  assert.throws(() => pairedRates([1], [1, 0]), /1 model outcomes but 2 baseline outcomes/);
});

test('majority vote: most frequent trimmed answer, ties to the first sampled', () => {
  assert.equal(majorityAnswer(['b', 'a', 'a', 'b']), 'b');
  assert.equal(majorityAnswer([' x', 'y', 'x ']), 'x');
  assert.equal(majorityAnswer(['q']), 'q');
});

test('accuracy per level, family and overall from scripted answers; paired rows', () => {
  const all = worldPrompts(LARGE_EVAL_SET_PATH);
  const sortL2 = all.filter((p) => p.id.startsWith('sort-d2-')).slice(0, 2);
  const addL3 = all.filter((p) => p.id.startsWith('add-d3-')).slice(0, 1);
  const prompts = [...sortL2, ...addL3];
  const right = (i: number) => referenceAnswer(prompts[i].instance!);
  const model = itemOutcomes(prompts, { greedy: [right(0), 'x', right(2)], samples_I_K: [[right(0), 'x', 'x', right(0)], ['x', 'x', 'y', right(1)], ['0', '0', right(2), '1']] });
  // item 0: the tie r/x goes to r, sampled first
  assert.deepEqual(model.map((m) => [m.greedy, m.meanK, m.maj]), [[true, 0.5, true], [false, 0.25, false], [true, 0.25, false]]);
  const rows = accuracyRows(model);
  assert.deepEqual(rows.map((r) => [r.group, r.n, r.greedy, r.meanK, r.majK]), [
    ['sort L2', 2, 0.5, 0.375, 0.5],
    ['sort', 2, 0.5, 0.375, 0.5],
    ['add L3', 1, 1, 0.25, 0],
    ['add', 1, 1, 0.25, 0],
    ['overall', 3, 2 / 3, 1 / 3, 1 / 3],
  ]);
  const base = itemOutcomes(prompts, { greedy: ['x', 'x', 'x'], samples_I_K: [['x', 'x', 'x', 'x'], [right(1), right(1), 'x', 'x'], ['x', 'x', 'x', 'x']] });
  const overall = pairedRows(model, base).at(-1)!;
  assert.deepEqual([overall.greedy.gained, overall.greedy.lost, overall.meanK.gained, overall.meanK.lost, overall.majK.gained, overall.majK.lost], [2, 0, 2, 1, 1, 1]);
  assert.throws(() => pairedRows(model, base.slice().reverse()), /item 0 is sort-d2-L000 for the model but add-d3-L000 for the baseline/);
});

test('--limit spreads the items evenly over the file order', () => {
  assert.deepEqual(spreadLimit([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4), [0, 2, 5, 7]);
  assert.deepEqual(spreadLimit([1, 2], 5), [1, 2]);
  const picked = spreadLimit(worldPrompts(LARGE_EVAL_SET_PATH), 72);
  assert.equal(new Set(picked.map((p) => `${p.instance!.family}${p.instance!.difficulty}`)).size, 35, 'every family and level of the file (add has no level 1)');
});

function selfplay(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('selfplay eval --accuracy on models/default: report files, outcomes that the verifier confirms, bad flags in one line', () => {
  const out = path.join(tmp, 'acc');
  const r = selfplay(['eval', '--accuracy', '--model', 'models/default', '--limit', '12', '--k', '3', '--max-tokens', '24', '--threads', '1', '--quiet', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| \*\*overall\*\* \| 12 \|/);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'accuracy.json'), 'utf8'));
  const [answersFile] = fs.readdirSync(path.join(out, 'answers'));
  const { answers } = JSON.parse(fs.readFileSync(path.join(out, 'answers', answersFile), 'utf8'));
  const prompts = spreadLimit(worldPrompts(LARGE_EVAL_SET_PATH), 12);
  report.items.model.forEach((it: { id: string; greedy: boolean; meanK: number }, i: number) => {
    assert.equal(it.id, prompts[i].id);
    assert.equal(it.greedy, scoreAnswer(prompts[i].instance!, answers.greedy[i]) === 1);
    assert.equal(answers.samples_I_K[i].length, 3);
    assert.equal(it.meanK, answers.samples_I_K[i].filter((a: string) => scoreAnswer(prompts[i].instance!, a) === 1).length / 3);
  });
  const set = path.join(tmp, 'set.jsonl');
  fs.writeFileSync(set, '{"instruction": "hi"}\n');
  for (const [args, message] of [
    [['--set', set], /error: eval --accuracy: --set .* is not a world set/],
    [['--temperature', '0.5'], /error: eval --accuracy: --temperature does not apply/],
  ] as [string[], RegExp][]) {
    const bad = selfplay(['eval', '--accuracy', '--model', 'models/default', ...args]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, message);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  }
});
