/**
 * Paired comparisons of two models on the same items (pure functions), for accuracy evaluation:
 *
 * - Binary outcomes (greedy right/wrong, maj@k right/wrong): items gained (model right, baseline wrong) and lost;
 *   the exact two-sided sign test on the discordant items, which is McNemar's exact test; a percentile bootstrap
 *   interval of the accuracy difference (items resampled, so the pairing is kept).
 * - Per-item rates (mean accuracy over k samples): the mean difference with its paired bootstrap interval, and the
 *   sign test on the items whose rates differ.
 *
 * Also maj@k's vote: the most frequent answer among k samples (ties: the one sampled first).
 */
import { InputError } from '../errors.ts';
import { mean } from '../util/math.ts';
import { bootstrapInterval, type BootstrapOptions, type Interval } from './stats.ts';


/**
 * Two-sided exact binomial test at p = 1/2: P(X <= min(a, b)) + P(X >= max(a, b)), X ~ Bin(a + b, 1/2), capped at 1;
 * 1 when a + b = 0. Summed in log space, so thousands of items do not underflow.
 */
export function signTestP(a: number, b: number): number {
  if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0)) throw new InputError(`sign test: expected counts, got ${a} and ${b}`);
  const n = a + b;
  if (n === 0) return 1;
  const k = Math.min(a, b);
  let logC = 0; // log C(n, i), from i = 0
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log((n - i + 1) / i);
    tail += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, 2 * tail - (2 * k === n ? Math.exp(logC - n * Math.LN2) : 0));
}

export interface PairedBinary {
  n: number;
  modelAcc: number;
  baseAcc: number;
  /** modelAcc - baseAcc. */
  diff: number;
  diffCI: Interval;
  /** Items the model gets right and the baseline wrong, and the reverse. */
  gained: number;
  lost: number;
  /** Exact McNemar (sign test on gained vs lost). */
  p: number;
}

function checkPaired(model: readonly unknown[], base: readonly unknown[]): void {
  if (model.length !== base.length) throw new InputError(`paired test: ${model.length} model outcomes but ${base.length} baseline outcomes`);
}

/** Paired comparison of right/wrong outcomes. */
export function pairedBinary(model: readonly boolean[], base: readonly boolean[], opts: BootstrapOptions = {}): PairedBinary {
  checkPaired(model, base);
  const d = model.map((m, i) => Number(m) - Number(base[i]));
  const gained = d.filter((x) => x > 0).length;
  const lost = d.filter((x) => x < 0).length;
  return {
    n: model.length,
    modelAcc: mean(model.map(Number)),
    baseAcc: mean(base.map(Number)),
    diff: mean(d),
    diffCI: model.length ? bootstrapInterval(model.length, (idx) => mean(idx.map((i) => d[i])), opts) : { lo: NaN, hi: NaN },
    gained,
    lost,
    p: signTestP(gained, lost),
  };
}

export interface PairedRates {
  n: number;
  modelMean: number;
  baseMean: number;
  diff: number;
  diffCI: Interval;
  /** Items whose rate is higher for the model, and lower. */
  gained: number;
  lost: number;
  /** Sign test on the items whose rates differ. */
  p: number;
}

/** Paired comparison of per-item rates in [0, 1] (e.g. accuracy over k samples). */
export function pairedRates(model: readonly number[], base: readonly number[], opts: BootstrapOptions = {}): PairedRates {
  checkPaired(model, base);
  const d = model.map((m, i) => m - base[i]);
  const gained = d.filter((x) => x > 0).length;
  const lost = d.filter((x) => x < 0).length;
  return {
    n: model.length,
    modelMean: mean(model),
    baseMean: mean(base),
    diff: mean(d),
    diffCI: model.length ? bootstrapInterval(model.length, (idx) => mean(idx.map((i) => d[i])), opts) : { lo: NaN, hi: NaN },
    gained,
    lost,
    p: signTestP(gained, lost),
  };
}

/** The most frequent of the (trimmed) answers; among equally frequent ones, the one that came first. */
export function majorityAnswer(answers: readonly string[]): string {
  if (answers.length === 0) throw new InputError('majority vote: no answers');
  const trimmed = answers.map((x) => x.trim());
  const counts = new Map<string, number>();
  for (const a of trimmed) counts.set(a, (counts.get(a) ?? 0) + 1);
  const top = Math.max(...counts.values());
  return trimmed.find((a) => counts.get(a) === top)!;
}
