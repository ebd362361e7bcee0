/**
 * Win-rate arithmetic for pairwise evaluation (pure functions).
 *
 * A preference is the judge's verdict for the evaluated model against the baseline on one instruction:
 * 1 = the model's answer is better, 0 = the baseline's is, 0.5 = tie. The win rate is their mean (ties count half).
 *
 * Length-controlled win rate (in the spirit of AlpacaEval-LC, Dubois et al. 2024): fit
 *     E[preference_i] = sigmoid(w0 + w1 * z_i),   z_i = (len(model_i) - len(baseline_i)) / sd(length differences)
 * by maximum likelihood with the preference as a fractional target (binomial log-likelihood; a tie contributes half
 * a win and half a loss), and report sigmoid(w0): the predicted preference when both answers have the same length.
 * The length difference is scaled but NOT centred, so a model that is systematically longer does not get the length
 * advantage folded into the intercept. With one model and no per-instruction terms, AlpacaEval's "average over
 * instructions of the prediction with the length term zeroed" reduces to this single sigmoid(w0). Differences from
 * AlpacaEval-LC: no tanh squashing of z and no instruction-difficulty term. A tiny ridge penalty keeps the fit finite
 * when the data are separable (e.g. every preference is 1). When all lengths are equal the length term is dropped
 * and the LC rate equals the raw win rate.
 */
import { mean } from '../util/math.ts';
import { Rng } from '../util/rng.ts';

/** 1 = model wins, 0.5 = tie, 0 = baseline wins. */
export type Preference = 0 | 0.5 | 1;

/** One judged instruction. Lengths are in characters of the answer text. */
export interface JudgedItem {
  subset: string;
  preference: Preference;
  modelLength: number;
  baselineLength: number;
}

export interface Interval {
  lo: number;
  hi: number;
}

export interface SubsetStats {
  subset: string;
  n: number;
  wins: number;
  ties: number;
  losses: number;
  /** Mean preference (ties count half). */
  winRate: number;
  /** Percentile bootstrap interval of the win rate, resampling this subset's items. */
  winRateCI: Interval;
  /** sigmoid(intercept) of the length regression (see the module comment). */
  lcWinRate: number;
  lcWinRateCI: Interval;
  meanModelLength: number;
  meanBaselineLength: number;
}

export interface BootstrapOptions {
  /** Number of resamples (default 1000). */
  resamples?: number;
  /** Seed of the resampling; the same seed gives the same interval (default 1). */
  seed?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function winRate(prefs: readonly number[]): number {
  return mean(prefs);
}

/** Linear-interpolated quantile of sorted values (p in [0, 1]). */
export function quantile(sorted: readonly number[], p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Percentile bootstrap: draws `resamples` samples of n indices with replacement (seeded), evaluates `statistic` on
 * each, and returns the central `level` interval of those values.
 */
export function bootstrapInterval(n: number, statistic: (indices: readonly number[]) => number, opts: BootstrapOptions = {}): Interval {
  const resamples = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  const rng = new Rng(opts.seed ?? 1);
  const values: number[] = [];
  const indices = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) indices[i] = Math.floor(rng.next() * n);
    values.push(statistic(indices));
  }
  values.sort((a, b) => a - b);
  return { lo: quantile(values, (1 - level) / 2), hi: quantile(values, (1 + level) / 2) };
}

export interface LengthFit {
  /** Intercept and slope (per standard deviation of the length difference). */
  w0: number;
  w1: number;
  /** Standard deviation of the length differences used to scale them (0 = no length term). */
  scale: number;
  /** sigmoid(w0). */
  lcWinRate: number;
}

const RIDGE = 1e-6;

/**
 * Fits E[pref] = sigmoid(w0 + w1 * diff / sd(diff)) by Newton's method on the binomial log-likelihood with
 * fractional targets (plus RIDGE * |w|^2 / 2), and returns the length-free rate sigmoid(w0).
 */
export function fitLengthControlled(prefs: readonly number[], lengthDiffs: readonly number[]): LengthFit {
  const n = prefs.length;
  const m = mean(lengthDiffs);
  const scale = Math.sqrt(mean(lengthDiffs.map((d) => (d - m) ** 2)));
  const z = lengthDiffs.map((d) => (scale > 0 ? d / scale : 0));
  let w0 = 0;
  let w1 = 0;
  for (let iter = 0; iter < 100; iter++) {
    // gradient g and Hessian H of the negative penalised log-likelihood
    let g0 = RIDGE * w0, g1 = RIDGE * w1, h00 = RIDGE, h01 = 0, h11 = RIDGE;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(w0 + w1 * z[i]);
      const r = p - prefs[i];
      const v = p * (1 - p);
      g0 += r;
      g1 += r * z[i];
      h00 += v;
      h01 += v * z[i];
      h11 += v * z[i] * z[i];
    }
    const det = h00 * h11 - h01 * h01;
    const d0 = (h11 * g0 - h01 * g1) / det;
    const d1 = (h00 * g1 - h01 * g0) / det;
    w0 -= d0;
    w1 -= d1;
    if (Math.abs(d0) + Math.abs(d1) < 1e-10) break;
  }
  return { w0, w1, scale, lcWinRate: sigmoid(w0) };
}

/** Stats of one group of judged items (a subset, or all of them). */
export function subsetStats(subset: string, items: readonly JudgedItem[], opts: BootstrapOptions = {}): SubsetStats {
  const prefs = items.map((it) => it.preference);
  const diffs = items.map((it) => it.modelLength - it.baselineLength);
  const pick = (xs: readonly number[], idx: readonly number[]) => idx.map((i) => xs[i]);
  return {
    subset,
    n: items.length,
    wins: prefs.filter((p) => p === 1).length,
    ties: prefs.filter((p) => p === 0.5).length,
    losses: prefs.filter((p) => p === 0).length,
    winRate: winRate(prefs),
    winRateCI: bootstrapInterval(items.length, (idx) => winRate(pick(prefs, idx)), opts),
    lcWinRate: fitLengthControlled(prefs, diffs).lcWinRate,
    lcWinRateCI: bootstrapInterval(items.length, (idx) => fitLengthControlled(pick(prefs, idx), pick(diffs, idx)).lcWinRate, opts),
    meanModelLength: mean(items.map((it) => it.modelLength)),
    meanBaselineLength: mean(items.map((it) => it.baselineLength)),
  };
}

/** Per-subset stats (subsets in order of first appearance) and the overall stats (subset "overall"). */
export function summarize(items: readonly JudgedItem[], opts: BootstrapOptions = {}): { subsets: SubsetStats[]; overall: SubsetStats } {
  const groups = new Map<string, JudgedItem[]>();
  for (const it of items) {
    const group = groups.get(it.subset) ?? [];
    group.push(it);
    groups.set(it.subset, group);
  }
  return {
    subsets: [...groups].map(([subset, group]) => subsetStats(subset, group, opts)),
    overall: subsetStats('overall', items, opts),
  };
}
