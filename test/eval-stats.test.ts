import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bootstrapInterval,
  fitLengthControlled,
  quantile,
  subsetStats,
  summarize,
  winRate,
  type JudgedItem,
  type Preference,
} from '../src/eval/stats.ts';
import { Rng } from '../src/util/rng.ts';

const item = (subset: string, preference: Preference, modelLength = 10, baselineLength = 10): JudgedItem => ({
  subset,
  preference,
  modelLength,
  baselineLength,
});

/** Standard normal draw (Box-Muller). */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

test('win rate: ties count half', () => {
  assert.equal(winRate([1, 0, 0.5, 0.5]), 0.5);
  assert.equal(winRate([1, 1, 0.5, 0]), 0.625);
  const s = subsetStats('x', [item('x', 1), item('x', 0.5), item('x', 0.5), item('x', 0)]);
  assert.deepEqual([s.wins, s.ties, s.losses, s.n, s.winRate], [1, 2, 1, 4, 0.5]);
});

test('summarize: per subset in order of appearance, and overall over all items', () => {
  const items = [item('b', 1, 30, 10), item('a', 0), item('b', 0.5, 20, 10), item('a', 0.5), item('a', 1)];
  const { subsets, overall } = summarize(items, { resamples: 50 });
  assert.deepEqual(subsets.map((s) => [s.subset, s.n, s.winRate]), [['b', 2, 0.75], ['a', 3, 0.5]]);
  assert.equal(overall.subset, 'overall');
  assert.equal(overall.n, 5);
  assert.equal(overall.winRate, 3 / 5);
  assert.equal(subsets[0].meanModelLength, 25);
  assert.equal(subsets[0].meanBaselineLength, 10);
  assert.equal(overall.meanModelLength, 16);
});

test('quantile interpolates linearly between sorted values', () => {
  assert.equal(quantile([0, 10], 0.25), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([1, 2, 3, 4, 5], 1), 5);
});

test('bootstrap: the same seed gives the same interval, another seed a different one', () => {
  const rng = new Rng(5);
  const prefs = Array.from({ length: 200 }, () => (rng.next() < 0.6 ? 1 : 0));
  const stat = (idx: readonly number[]) => winRate(idx.map((i) => prefs[i]));
  const a = bootstrapInterval(prefs.length, stat, { seed: 7 });
  const b = bootstrapInterval(prefs.length, stat, { seed: 7 });
  const c = bootstrapInterval(prefs.length, stat, { seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.lo < winRate(prefs) && winRate(prefs) < a.hi, JSON.stringify(a));
});

test('bootstrap: 95% intervals cover the true rate in about 95% of synthetic data sets', () => {
  const truth = 0.7;
  const rng = new Rng(11);
  let covered = 0;
  let width = 0;
  const sets = 60;
  for (let s = 0; s < sets; s++) {
    const prefs = Array.from({ length: 300 }, () => (rng.next() < truth ? 1 : 0));
    const ci = bootstrapInterval(prefs.length, (idx) => winRate(idx.map((i) => prefs[i])), { seed: s, resamples: 400 });
    if (ci.lo <= truth && truth <= ci.hi) covered++;
    width += (ci.hi - ci.lo) / sets;
  }
  // binomial sd of the standard error: sqrt(0.7*0.3/300) = 0.0265 -> a 95% interval is ~0.104 wide
  console.log(`coverage ${covered}/${sets}, mean width ${width.toFixed(4)} (expected ~0.104)`);
  assert.ok(covered >= 52, `coverage ${covered}/${sets}`);
  assert.ok(Math.abs(width - 0.104) < 0.015, `width ${width}`);
});

test('length-controlled rate recovers the length-free preference; the raw rate does not', () => {
  // The model's answers are longer by 1 sd on average and the judge likes length: P(win) = sigmoid(logit(q) + 1.5 z).
  const q = 0.6;
  const rng = new Rng(3);
  const prefs: number[] = [];
  const diffs: number[] = [];
  for (let i = 0; i < 4000; i++) {
    const diff = 100 * (1 + normal(rng));
    const z = diff / 100; // sd of diff is 100 by construction
    const p = 1 / (1 + Math.exp(-(Math.log(q / (1 - q)) + 1.5 * z)));
    prefs.push(rng.next() < p ? 1 : 0);
    diffs.push(diff);
  }
  const raw = winRate(prefs);
  const fit = fitLengthControlled(prefs, diffs);
  console.log(`true ${q}, raw ${raw.toFixed(4)}, LC ${fit.lcWinRate.toFixed(4)}, slope ${fit.w1.toFixed(3)} (true ~1.5)`);
  assert.ok(Math.abs(fit.lcWinRate - q) < 0.03, `LC ${fit.lcWinRate}`);
  assert.ok(Math.abs(raw - q) > 0.1, `raw ${raw}`);
  assert.ok(Math.abs(fit.w1 - 1.5) < 0.2, `slope ${fit.w1}`);
});

test('length fit solves the score equations of the fractional-target likelihood (ties as 0.5)', () => {
  const rng = new Rng(9);
  const prefs = Array.from({ length: 300 }, () => [0, 0.5, 1][Math.floor(rng.next() * 3)]);
  const diffs = prefs.map((p) => 50 * (p - 0.3) + 40 * normal(rng));
  const { w0, w1, scale } = fitLengthControlled(prefs, diffs);
  let g0 = 0;
  let g1 = 0;
  prefs.forEach((y, i) => {
    const r = 1 / (1 + Math.exp(-(w0 + (w1 * diffs[i]) / scale))) - y;
    g0 += r;
    g1 += (r * diffs[i]) / scale;
  });
  console.log(`score equations: |g0| ${Math.abs(g0).toExponential(2)}, |g1| ${Math.abs(g1).toExponential(2)}`);
  assert.ok(Math.abs(g0) < 1e-4 && Math.abs(g1) < 1e-4);
});

test('length fit: equal lengths give the raw rate; all wins stay finite and near 1', () => {
  const prefs = [1, 0, 0.5, 1, 1];
  const same = fitLengthControlled(prefs, prefs.map(() => 0));
  assert.ok(Math.abs(same.lcWinRate - winRate(prefs)) < 1e-5, `${same.lcWinRate}`);
  const allWins = fitLengthControlled([1, 1, 1], [5, 10, -3]);
  assert.ok(Number.isFinite(allWins.w0) && allWins.lcWinRate > 0.99, JSON.stringify(allWins));
});
