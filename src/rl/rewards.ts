/**
 * Reward options beside the paper's (pure functions of the group arrays; the config's `verifierReward`,
 * `challengerReward`, `invalidQueryPenalty`, `repetitionPenalty` choose them):
 *
 * - exact:       R = 1 for the exact reference answer, else 0 (the verifier's partial credit pays near-guesses).
 * - uncertainty: the challenger earns 1 - 2|p - 0.5| with p the solver's success rate (R = 1) over the G answers
 *                (R-Zero, Huang et al. 2025): most for queries the solver gets right half the time, 0 for queries it
 *                always or never solves, where the paper's -V(q) pays most for queries it never solves.
 * - invalid:     a query that is not a valid task instance loses `penalty`. In a verifier world every answer to an
 *                invalid query scores 0, so -V(q) alone makes an invalid query the challenger's best move.
 * - repetition:  a query loses lambda * |C| / N, C its cluster among the batch's N queries (R-Zero's form): queries
 *                are linked when their n-gram similarity reaches a threshold and clusters are the linked components.
 *
 * Similarity is BLEU-like but symmetric and smooth: the mean over n = 1..4 of the multiset Dice overlap of the two
 * texts' word n-grams, 2 |A_n and B_n| / (|A_n| + |B_n|), over the orders both texts are long enough for. Identical
 * texts score 1. Two world queries from one template that differ in their one content word score 0.68-0.72
 * ("Reverse the word: gute" / "... huse"), one number changed in a list of six scores 0.91, so the default threshold
 * 0.85 clusters near-copies but not template reuse, which the Box 1 prompt itself asks for. One token changed in an
 * n-token query scores roughly 1 - 1/n (last token) to 1 - 2.5/n (middle), so in long queries one changed word
 * is a near-copy too.
 */
import { InputError } from '../errors.ts';
import { mean } from '../util/math.ts';
import { queryTokens } from '../util/ngrams.ts';
import { challengerRewards, groupValues } from './advantages.ts';

/** Exact 0/1 rewards: 1 where the verifier gave full credit (R >= 1), else 0. */
export function exactRewards(rewards_N_G: readonly (readonly number[])[]): number[][] {
  return rewards_N_G.map((g) => g.map((r) => (r >= 1 ? 1 : 0)));
}

/** p per query: the share of its G answers with full reward (R >= 1). */
export function successRates(rewards_N_G: readonly (readonly number[])[]): number[] {
  return rewards_N_G.map((g) => mean(g.map((r) => (r >= 1 ? 1 : 0))));
}

/** R-Zero's uncertainty reward 1 - 2|p - 0.5| per query: 1 at p = 0.5, 0 at p = 0 or 1. */
export function uncertaintyRewards(successRates_N: readonly number[]): number[] {
  return successRates_N.map((p) => {
    if (!(p >= 0 && p <= 1)) throw new InputError(`success rate ${p} is outside [0, 1]`);
    return 1 - 2 * Math.abs(p - 0.5);
  });
}

/** Counts of the word n-grams of one token list. */
function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0000');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The mean over n = 1..maxOrder of the multiset Dice overlap of word n-grams (orders both texts have); 1 if equal. */
export function ngramSimilarity(a: string, b: string, maxOrder = 4): number {
  const ta = queryTokens(a);
  const tb = queryTokens(b);
  if (ta.join(' ') === tb.join(' ')) return 1;
  const overlaps: number[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const ca = ngramCounts(ta, n);
    const cb = ngramCounts(tb, n);
    const total = Math.max(0, ta.length - n + 1) + Math.max(0, tb.length - n + 1);
    if (ca.size === 0 || cb.size === 0) continue;
    let shared = 0;
    for (const [k, c] of ca) shared += Math.min(c, cb.get(k) ?? 0);
    overlaps.push((2 * shared) / total);
  }
  return overlaps.length ? mean(overlaps) : 0;
}

/** Cluster id per query: connected components of the graph linking pairs with similarity >= threshold. */
export function similarityClusters(queries_N: readonly string[], threshold: number): number[] {
  const parent = queries_N.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  for (let i = 0; i < queries_N.length; i++) {
    for (let j = i + 1; j < queries_N.length; j++) {
      if (find(i) !== find(j) && ngramSimilarity(queries_N[i], queries_N[j]) >= threshold) parent[find(j)] = find(i);
    }
  }
  return queries_N.map((_, i) => find(i));
}

/** R-Zero's repetition penalty per query: |C| / N, C the query's cluster (1/N for a query like no other). */
export function repetitionPenalties(queries_N: readonly string[], threshold: number): number[] {
  if (!(threshold > 0 && threshold <= 1)) throw new InputError(`repetition threshold must be in (0, 1], got ${threshold}`);
  const clusters = similarityClusters(queries_N, threshold);
  const size = new Map<number, number>();
  for (const c of clusters) size.set(c, (size.get(c) ?? 0) + 1);
  return clusters.map((c) => size.get(c)! / queries_N.length);
}

/** What shapes the challenger's reward besides R and R_Q. */
export interface ChallengerRewardOptions {
  /** 'paper': -V(q); 'uncertainty': 1 - 2|p - 0.5|. */
  kind: 'paper' | 'uncertainty';
  /** Weight w of the self-reward V_Q / 7 (LSP). */
  selfWeight: number;
  /** Subtracted from invalid queries' reward. */
  invalidPenalty: number;
  /** lambda of the repetition penalty (0 = off). */
  repetitionPenalty: number;
  /** Similarity at which two queries count as repeats. */
  repetitionThreshold: number;
}

export interface ChallengerRewardParts {
  /** The total reward per query, before the batch-mean baseline. */
  rewards_N: number[];
  /** The repetition penalty |C|/N per query (before lambda), computed even when lambda is 0 (a diversity metric). */
  repetition_N: number[];
}

/**
 * The challenger's reward per query: base (-V(q) or the uncertainty reward) + w V_Q / 7 - penalty * [invalid]
 * - lambda |C| / N. With the defaults (paper, no penalties) it is exactly advantages.ts's challengerRewards. `rewards_N_G` is the solver's R (without self-reward), `selfScores_N_G` raw R_Q 0..7 or null,
 * `valid_N` whether each query is a valid task instance (null: validity unknown, no penalty).
 */
export function challengerRewardParts(
  rewards_N_G: readonly (readonly number[])[],
  selfScores_N_G: readonly (readonly number[])[] | null,
  queries_N: readonly string[],
  valid_N: readonly boolean[] | null,
  o: ChallengerRewardOptions,
): ChallengerRewardParts {
  // challengerRewards(v, vQ, w) = -v + w vQ / 7, so the uncertainty reward u enters as v = -u
  const values_N = o.kind === 'uncertainty' ? uncertaintyRewards(successRates(rewards_N_G)).map((u) => -u) : groupValues(rewards_N_G);
  const base = challengerRewards(values_N, selfScores_N_G ? selfScores_N_G.map(mean) : null, o.selfWeight);
  const repetition_N = repetitionPenalties(queries_N, o.repetitionThreshold); // cheap (N^2 pairs); logged even when off
  const rewards_N = base.map((b, i) => {
    const invalid = valid_N && !valid_N[i] ? o.invalidPenalty : 0;
    return invalid === 0 && o.repetitionPenalty === 0 ? b : b - invalid - o.repetitionPenalty * repetition_N[i];
  });
  return { rewards_N, repetition_N };
}
