/**
 * Challenger query diversity over training (pure functions), because the paper names diversity collapse as its
 * open problem. Per window of iterations: distinct-1/2 of the query texts (Li et al. 2016: distinct n-grams over
 * all n-grams in the window), the share of distinct query texts, the share of distinct world instances among the
 * valid queries (the same instance phrased by two templates counts once), and the family and difficulty histograms
 * of the valid queries (world.ts `classify`).
 */
import { FAMILY_NAMES, MAX_DIFFICULTY, type FamilyName } from '../world/types.ts';
import { classify, instanceKey } from '../world/world.ts';
import { distinctN } from '../util/ngrams.ts';

/** One challenger query as samples.jsonl logs it (`iteration` counts from 1). */
export interface QuerySample {
  iteration: number;
  query: string;
}

export interface DiversityWindow {
  /** First and last iteration of the window (inclusive). */
  from: number;
  to: number;
  queries: number;
  /** Share of queries that are valid world instances. */
  validFrac: number;
  distinct1: number;
  distinct2: number;
  /** Distinct query texts / queries. */
  uniqueQueryShare: number;
  /** Distinct instances / valid queries (NaN when none is valid). */
  uniqueInstanceShare: number;
  /** Valid queries per family. */
  families: Record<FamilyName, number>;
  /** Valid queries per difficulty level; index 0 is level 1. */
  difficulties: number[];
}

/** The statistics of one window's queries. */
export function windowStats(queries: readonly string[], from: number, to: number): DiversityWindow {
  const families = Object.fromEntries(FAMILY_NAMES.map((f) => [f, 0])) as Record<FamilyName, number>;
  const difficulties = new Array<number>(MAX_DIFFICULTY).fill(0);
  const instances = new Set<string>();
  let valid = 0;
  for (const q of queries) {
    const c = classify(q);
    if (!c.valid) continue;
    valid++;
    families[c.family]++;
    difficulties[c.difficulty - 1]++;
    instances.add(instanceKey(c.instance));
  }
  return {
    from,
    to,
    queries: queries.length,
    validFrac: queries.length ? valid / queries.length : NaN,
    distinct1: distinctN(queries, 1),
    distinct2: distinctN(queries, 2),
    uniqueQueryShare: queries.length ? new Set(queries).size / queries.length : NaN,
    uniqueInstanceShare: valid ? instances.size / valid : NaN,
    families,
    difficulties,
  };
}

/** A window length giving about `windows` windows over `iterations`. */
export function windowSize(iterations: number, windows = 5): number {
  return Math.max(1, Math.ceil(iterations / windows));
}

/** Windows [1..w], [w+1..2w], ... up to the last logged iteration; empty windows are kept (queries 0). */
export function diversityOverTraining(samples: readonly QuerySample[], size: number): DiversityWindow[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
  const last = samples.reduce((m, s) => Math.max(m, s.iteration), 0); // no spread: a long run logs 10^5+ samples
  const out: DiversityWindow[] = [];
  for (let from = 1; from <= last; from += size) {
    const to = Math.min(last, from + size - 1);
    out.push(windowStats(samples.filter((s) => s.iteration >= from && s.iteration <= to).map((s) => s.query), from, to));
  }
  return out;
}
