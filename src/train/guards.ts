/**
 * Collapse and reward-hacking guards: pure checks of a run's history, one per failure the paper names or that
 * self-play runs are known for. Each compares the recent window of iterations with the early one (or a bound):
 *   valid_queries     the challenger's share of valid queries fell by `validDrop` of its early level;
 *   diversity         distinct-2 or the unique-query share of the challenger's queries fell by `diversityDrop`;
 *   equal_rewards     on average more than `equalRewardsFrac` of the groups had all-equal rewards (no signal);
 *   judge_gamed       the self-reward rose by `judgeRise` while the verifier reward fell by `verifierFall`;
 *   answer_length     the solver's mean answer length grew `lengthGrowth` times;
 *   kl                KL(pi || pi_ref) of a role past `klMax` nats in the latest iteration.
 * The caller (src/train/lsp.ts via GuardMonitor) logs trips in metrics.jsonl and may stop the run.
 */
import { finiteMean } from '../util/math.ts';
import { distinctN } from '../util/ngrams.ts';

export const GUARD_NAMES = ['valid_queries', 'diversity', 'equal_rewards', 'judge_gamed', 'answer_length', 'kl'] as const;
export type GuardName = (typeof GUARD_NAMES)[number];

export interface GuardThresholds {
  /** Iterations per window (early = the first `window`, recent = the last `window`). */
  window: number;
  validDrop: number;
  diversityDrop: number;
  equalRewardsFrac: number;
  judgeRise: number;
  verifierFall: number;
  lengthGrowth: number;
  klMax: number;
}

/** What the guards read of one iteration: a few metrics and the challenger's query texts. */
export interface GuardPoint {
  iteration: number;
  validFrac: number;
  zeroStdFrac: number;
  selfReward: number;
  verifierReward: number;
  answerLength: number;
  klSolver: number;
  klChallenger: number;
  queries: string[];
}

export interface GuardTrip {
  guard: GuardName;
  /** One line for the progress bar, the log and the dashboard. */
  message: string;
  value: number;
  threshold: number;
}

const finite = (a: number[]) => a.filter(Number.isFinite);
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3));

/** The early and the recent window, or null until they no longer overlap (2 windows of history). */
export function windows(history: readonly GuardPoint[], window: number): { early: GuardPoint[]; recent: GuardPoint[] } | null {
  if (window < 1 || history.length < 2 * window) return null;
  return { early: history.slice(0, window), recent: history.slice(-window) };
}

/** Distinct-2 and the share of distinct query texts over a window's pooled queries. */
export function queryDiversity(points: readonly GuardPoint[]): { distinct2: number; uniqueShare: number } {
  const queries = points.flatMap((p) => p.queries);
  return { distinct2: distinctN(queries, 2), uniqueShare: queries.length ? new Set(queries).size / queries.length : NaN };
}

/** Trip when `recent` is below `early` by more than `drop` of it (early must be positive). */
function fell(guard: GuardName, what: string, early: number, recent: number, drop: number): GuardTrip | null {
  if (!(early > 0) || !Number.isFinite(recent)) return null;
  const floor = early * (1 - drop);
  if (recent >= floor) return null;
  return { guard, message: `${what} fell from ${fmt(early)} to ${fmt(recent)} (below ${fmt(floor)})`, value: recent, threshold: floor };
}

export function validQueriesGuard(early: GuardPoint[], recent: GuardPoint[], t: GuardThresholds): GuardTrip | null {
  return fell('valid_queries', 'valid-query share', finiteMean(early.map((p) => p.validFrac)), finiteMean(recent.map((p) => p.validFrac)), t.validDrop);
}

export function diversityGuard(early: GuardPoint[], recent: GuardPoint[], t: GuardThresholds): GuardTrip | null {
  const a = queryDiversity(early);
  const b = queryDiversity(recent);
  return fell('diversity', 'query distinct-2', a.distinct2, b.distinct2, t.diversityDrop) ?? fell('diversity', 'unique-query share', a.uniqueShare, b.uniqueShare, t.diversityDrop);
}

export function equalRewardsGuard(recent: GuardPoint[], t: GuardThresholds): GuardTrip | null {
  const frac = finiteMean(recent.map((p) => p.zeroStdFrac));
  if (!(frac > t.equalRewardsFrac)) return null;
  return { guard: 'equal_rewards', message: `${fmt(frac)} of the groups had all-equal rewards (above ${fmt(t.equalRewardsFrac)}): little learning signal`, value: frac, threshold: t.equalRewardsFrac };
}

export function judgeGamedGuard(early: GuardPoint[], recent: GuardPoint[], t: GuardThresholds): GuardTrip | null {
  const rise = finiteMean(recent.map((p) => p.selfReward)) - finiteMean(early.map((p) => p.selfReward));
  const fall = finiteMean(early.map((p) => p.verifierReward)) - finiteMean(recent.map((p) => p.verifierReward));
  if (!(rise >= t.judgeRise && fall >= t.verifierFall)) return null;
  return { guard: 'judge_gamed', message: `self-reward rose by ${fmt(rise)} while the verifier reward fell by ${fmt(fall)}: the judge may be gamed`, value: rise, threshold: t.judgeRise };
}

export function answerLengthGuard(early: GuardPoint[], recent: GuardPoint[], t: GuardThresholds): GuardTrip | null {
  const a = finiteMean(early.map((p) => p.answerLength));
  const b = finiteMean(recent.map((p) => p.answerLength));
  if (!(a > 0) || !(b > a * t.lengthGrowth)) return null;
  return { guard: 'answer_length', message: `mean answer length grew from ${fmt(a)} to ${fmt(b)} tokens (over ${t.lengthGrowth}x)`, value: b, threshold: a * t.lengthGrowth };
}

export function klGuard(latest: GuardPoint, t: GuardThresholds): GuardTrip | null {
  const kl = Math.max(...finite([latest.klSolver, latest.klChallenger]), -Infinity);
  if (!(kl > t.klMax)) return null;
  return { guard: 'kl', message: `KL to the reference ${fmt(kl)} nats (above ${fmt(t.klMax)})`, value: kl, threshold: t.klMax };
}

/** Every guard tripped by the history so far (oldest iteration first). */
export function checkGuards(history: readonly GuardPoint[], t: GuardThresholds): GuardTrip[] {
  if (history.length === 0) return [];
  const trips: (GuardTrip | null)[] = [klGuard(history[history.length - 1], t)];
  const w = windows(history, t.window);
  if (w) {
    trips.push(validQueriesGuard(w.early, w.recent, t), diversityGuard(w.early, w.recent, t), judgeGamedGuard(w.early, w.recent, t), answerLengthGuard(w.early, w.recent, t));
  }
  if (history.length >= t.window) trips.push(equalRewardsGuard(history.slice(-t.window), t));
  return trips.filter((x): x is GuardTrip => x !== null);
}

const num = (m: Record<string, unknown>, k: string) => (typeof m[k] === 'number' ? (m[k] as number) : NaN);

/** One iteration's guard inputs from its metrics.jsonl record and its samples' query texts. */
export function guardPoint(iteration: number, metrics: Record<string, unknown>, queries: string[]): GuardPoint {
  return {
    iteration,
    validFrac: num(metrics, 'challenger/valid_frac'),
    zeroStdFrac: num(metrics, 'frac_reward_zero_std'),
    selfReward: num(metrics, 'selfreward/mean'),
    verifierReward: num(metrics, 'solver/reward/mean'),
    answerLength: num(metrics, 'completions/mean_length/solver'),
    klSolver: num(metrics, 'kl/solver'),
    klChallenger: num(metrics, 'kl/challenger'),
    queries,
  };
}
