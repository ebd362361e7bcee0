/**
 * What the dashboard page shows, as plain data, and the pure functions the server and the page (and the exported
 * report) share: downsampling curves and filtering/paging the game feed. No Node imports: the page bundles it.
 */
import type { DiversityWindow } from '../experiment/diversity.ts';

/** One run in the list. */
export interface RunSummary {
  /** The run folder relative to RUNS_DIR, `/`-separated (its id in every request). */
  name: string;
  mode: string;
  model: string;
  /** Iterations the config asks for (NaN when there is no config.json). */
  planned: number;
  /** Iterations logged in metrics.jsonl so far. */
  done: number;
  /** The logs changed in the last minute and no model/ yet: a run in progress. */
  live: boolean;
  /** Iterations on which a guard tripped. */
  guardTrips: number;
  /** Last change of the run's logs or config, ms since the epoch. */
  updated: number;
}

/** Curves: one x (iteration) array and one array per metric key; NaN where a metric is missing. */
export interface Series {
  iterations: number[];
  values: Record<string, number[]>;
  /** Iterations logged before downsampling. */
  total: number;
}

export interface GuardEvent {
  iteration: number;
  guard: string;
  message: string;
}

export interface SampleAnswer {
  answer: string;
  reward: number | null;
  self_score?: number | null;
  judge?: string | null;
}

/** One challenger query with its G answers, as samples.jsonl logs it (plus the world's difficulty). */
export interface FeedItem {
  iteration: number;
  query: string;
  family: string | null;
  difficulty: number | null;
  valid: boolean;
  /** Why the world does not accept the query (null when it does). */
  invalidReason: string | null;
  challenger_reward: number | null;
  answers: SampleAnswer[];
}

/** The feed's filters (all optional). `reward`: solved = every answer got 1, failed = every answer 0. */
export interface FeedFilter {
  family?: string;
  valid?: 'valid' | 'invalid';
  reward?: 'solved' | 'failed' | 'mixed';
  iteration?: number;
}

/** What the filters need of an item without reading its answers. */
export interface FeedKey {
  iteration: number;
  family: string | null;
  valid: boolean;
  /** Min and max reward over the answers. */
  minReward: number;
  maxReward: number;
}

export interface FeedPage {
  total: number;
  offset: number;
  items: FeedItem[];
}

/** A win rate with its interval, one row of a results table. */
export interface WinRateRow {
  subset: string;
  n: number;
  winRate: number;
  lo: number;
  hi: number;
}

export interface ResultTable {
  /** Where it came from (a file relative to RUNS_DIR), and what was compared. */
  source: string;
  title: string;
  rows: WinRateRow[];
}

/** Challenger diversity over one window of iterations (computed by src/experiment/diversity.ts). */
export type DiversityPoint = DiversityWindow;

/** Everything about one run the page draws (the export embeds one of these). */
export interface RunView {
  run: RunSummary;
  config: Record<string, unknown> | null;
  series: Series;
  guards: GuardEvent[];
  diversity: DiversityPoint[];
  results: ResultTable[];
}

/**
 * At most `maxPoints` points: consecutive iterations are averaged in equal buckets (x = the bucket's last
 * iteration), and the last iteration is always its own point so a live curve ends where the run is.
 */
export function downsample(iterations: readonly number[], values: Record<string, readonly number[]>, maxPoints: number): Series {
  const n = iterations.length;
  if (n <= maxPoints || maxPoints < 2) return { iterations: [...iterations], values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [...v]])), total: n };
  const buckets = maxPoints - 1;
  const edges = Array.from({ length: buckets + 1 }, (_, b) => Math.floor(((n - 1) * b) / buckets));
  const xs: number[] = [];
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(values).map((k) => [k, []]));
  for (let b = 0; b < buckets; b++) {
    const [lo, hi] = [edges[b], edges[b + 1]];
    if (hi <= lo) continue;
    xs.push(iterations[hi - 1]);
    for (const [k, v] of Object.entries(values)) out[k].push(meanFinite(v, lo, hi));
  }
  xs.push(iterations[n - 1]);
  for (const [k, v] of Object.entries(values)) out[k].push(v[n - 1]);
  return { iterations: xs, values: out, total: n };
}

function meanFinite(v: readonly number[], lo: number, hi: number): number {
  let s = 0;
  let c = 0;
  for (let i = lo; i < hi; i++) if (Number.isFinite(v[i])) (s += v[i]), c++;
  return c ? s / c : NaN;
}

export function feedKey(item: Pick<FeedItem, 'iteration' | 'family' | 'valid' | 'answers'>): FeedKey {
  const rewards = item.answers.map((a) => (typeof a.reward === 'number' && Number.isFinite(a.reward) ? a.reward : 0));
  return { iteration: item.iteration, family: item.family, valid: item.valid, minReward: Math.min(...rewards, Infinity), maxReward: Math.max(...rewards, -Infinity) };
}

export function matches(k: FeedKey, f: FeedFilter): boolean {
  if (f.family && k.family !== f.family) return false;
  if (f.valid && k.valid !== (f.valid === 'valid')) return false;
  if (f.iteration !== undefined && k.iteration !== f.iteration) return false;
  if (f.reward === 'solved' && !(k.minReward >= 1)) return false;
  if (f.reward === 'failed' && !(k.maxReward <= 0)) return false;
  if (f.reward === 'mixed' && !(k.maxReward > k.minReward)) return false;
  return true;
}

/** Indices (into `keys`) of the items on one page, newest iteration first. */
export function pageIndices(keys: readonly FeedKey[], f: FeedFilter, offset: number, limit: number): { total: number; indices: number[] } {
  const hits: number[] = [];
  for (let i = keys.length - 1; i >= 0; i--) if (matches(keys[i], f)) hits.push(i);
  return { total: hits.length, indices: hits.slice(Math.max(0, offset), Math.max(0, offset) + Math.max(0, limit)) };
}

/** The filter in a URL query (`family`, `valid`, `reward`, `iteration`); unknown values are ignored, never evaluated. */
export function parseFilter(q: URLSearchParams): FeedFilter {
  const f: FeedFilter = {};
  const family = q.get('family');
  if (family) f.family = family;
  const valid = q.get('valid');
  if (valid === 'valid' || valid === 'invalid') f.valid = valid;
  const reward = q.get('reward');
  if (reward === 'solved' || reward === 'failed' || reward === 'mixed') f.reward = reward;
  const it = Number(q.get('iteration') ?? '');
  if (q.get('iteration') && Number.isInteger(it)) f.iteration = it;
  return f;
}

/** The metric keys of the curves, grouped into charts (time/* stages are found in the data). */
export const CHARTS: { title: string; keys: string[]; share?: boolean }[] = [
  { title: 'Reward per role', keys: ['solver/reward/mean', 'challenger/reward/mean', 'solver/total_reward/mean'] },
  { title: 'Self-reward (0..7)', keys: ['selfreward/mean'] },
  { title: 'Judge parse failures (share)', keys: ['selfreward/parse_fail'], share: true },
  { title: 'Valid-query share', keys: ['challenger/valid_frac'], share: true },
  { title: 'KL to the reference per role', keys: ['kl/solver', 'kl/challenger'] },
  { title: 'Loss per role', keys: ['loss/solver', 'loss/challenger'] },
  { title: 'Gradient norm', keys: ['grad_norm'] },
  { title: 'Groups with equal rewards (frac_reward_zero_std)', keys: ['frac_reward_zero_std'], share: true },
  { title: 'Throughput (tokens/s)', keys: ['tokens_per_s'] },
  { title: 'Mean completion length (tokens)', keys: ['completions/mean_length/solver', 'completions/mean_length/challenger'] },
  { title: 'Quick eval: solver accuracy', keys: ['eval/solver_accuracy'], share: true },
];
