/** The experiment's results as the doc and results.json use them, and the number formats they share. */
import type { AccuracySettings } from '../eval/accuracy.ts';
import type { SubsetStats } from '../eval/stats.ts';
import type { TrainConfig } from '../rl/config.ts';
import type { ArmSpec, BudgetSpec } from './arms.ts';
import type { DiversityWindow } from './diversity.ts';
import type { FrontierRange } from './frontier.ts';
import type { ModelEval } from './paper-eval.ts';

/** The resolved settings of an arm that the doc's tables show. */
export type ArmSettings = Pick<TrainConfig, 'lr' | 'N' | 'G' | 'verifierReward' | 'challengerReward' | 'invalidQueryPenalty' | 'repetitionPenalty'>;

export interface ArmResult extends ArmSpec {
  startModel: string;
  iterations: number;
  config: ArmSettings;
  trainSeconds: number;
  /** metrics.jsonl of the arm's run. */
  metrics: Record<string, unknown>[];
  /** Challenger query diversity per window of iterations (empty for GRPO: it has no challenger). */
  diversity: DiversityWindow[];
}

export interface PaperResults {
  command: string;
  date: string;
  machine: string;
  model: string;
  budget: string;
  spec: BudgetSpec;
  /** GRPO's frontier filter; null: every level. */
  grpoFrontier: FrontierRange | null;
  seed: number;
  threads?: number;
  out: string;
  evalItems: number;
  /** Greedy answers and k samples at temperature 1 per held-out item. */
  settings: AccuracySettings;
  arms: ArmResult[];
  /** Base first, then the arms in ARMS order. */
  evals: ModelEval[];
  evalSeconds: Record<string, number>;
  /** The frontier probe of the base model (0 without a frontier filter). */
  probeSeconds: number;
  /** This session's wall time (the doc's total adds the parts over all sessions). */
  sessionSeconds: number;
}

export const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '–');
/** Fixed digits; a value that rounds to zero prints as 0, never -0. */
export const num = (x: number, digits = 3) => (Number.isFinite(x) ? (Math.abs(x) < 0.5 * 10 ** -digits ? 0 : x).toFixed(digits) : '–');
export const iterationRange = (from: number, to: number) => (from === to ? String(from) : `${from}-${to}`);
export const ci = (s: SubsetStats) => `[${pct(s.winRateCI.lo)}, ${pct(s.winRateCI.hi)}]`;
/** The interval with two decimals where a bound is within 0.05 points of 50% (where one decimal hides the verdict). */
export const claimCi = (s: SubsetStats) => (Math.min(Math.abs(s.winRateCI.lo - 0.5), Math.abs(s.winRateCI.hi - 0.5)) < 0.0005 ? `[${(100 * s.winRateCI.lo).toFixed(2)}, ${(100 * s.winRateCI.hi).toFixed(2)}]` : ci(s));

/** The per-iteration values of one metric as [iteration, value] points (non-numbers become NaN: a gap). */
export function metricPoints(metrics: readonly Record<string, unknown>[], key: string): [number, number][] {
  return metrics.map((m, i) => [typeof m.iteration === 'number' ? m.iteration : i + 1, typeof m[key] === 'number' ? (m[key] as number) : NaN]);
}

export const evalOf = (r: PaperResults, name: string) => r.evals.find((e) => e.name === name)!;
