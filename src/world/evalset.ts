/**
 * The held-out evaluation set: per family, instances at every difficulty level 1..MAX_DIFFICULTY (levels above
 * the pretraining range included), drawn from a seed no training run uses. Written once to a versioned file by
 * `npx tsx scripts/make-evalset.ts`; the corpus generator loads it and never emits one of its instances.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import { EASY_MAX, FAMILY_NAMES, MAX_DIFFICULTY, type FamilyName } from './types.ts';
import { classify, generateInstance, instanceKey, phrase, referenceAnswer } from './world.ts';

/** The evaluation set's seed; training corpora are generated from user seeds and exclude its instances anyway. */
export const EVAL_SEED = 0x7e57_e7a1;
/** Instances per family and difficulty level (6 levels -> 120 per family). */
export const EVAL_PER_LEVEL = 20;
/** The versioned evaluation file in the repository (world v4). */
export const EVAL_SET_PATH = fileURLToPath(new URL('../../data/world-eval-v4.jsonl', import.meta.url));

/** The larger held-out set's seed, file and size: >= 400 items per family, for accuracy at temperature 1 and maj@k. */
export const LARGE_EVAL_SEED = 0x1a_49e5_e7;
export const LARGE_EVAL_PER_FAMILY = 420;
export const LARGE_EVAL_SET_PATH = fileURLToPath(new URL('../../data/world-eval-large-v4.jsonl', import.meta.url));
/**
 * World v3's large set, kept as the source of v4's: its items of the families v4 kept unchanged (reverse, uppercase,
 * repeat, sort, add) were drawn disjoint from the shipped model's replayed stage-2 pretraining, which only v3's code
 * could replay; v4 copies them verbatim (scripts/make-evalset.ts) and draws only its new family.
 */
export const LARGE_EVAL_SET_V3_PATH = fileURLToPath(new URL('../../data/world-eval-large-v3.jsonl', import.meta.url));
/** Families world v4 added (their held-out items are drawn fresh; the others' are v3's). */
export const NEW_IN_V4: readonly FamilyName[] = ['largest'];
/**
 * The largest share of one (family, level)'s instances the large set takes, so training keeps at least 95% of every
 * level; a level whose instances pretraining has all drawn already (one-digit sums: 100) gives none.
 */
export const LARGE_EVAL_MAX_SHARE = 0.05;
/** Every held-out file: training excludes the instances of all of them. */
export const HELD_OUT_PATHS: readonly string[] = [EVAL_SET_PATH, LARGE_EVAL_SET_PATH];

/** One line of the evaluation file. */
export interface EvalItem {
  id: string;
  family: FamilyName;
  difficulty: number;
  split: 'easy' | 'hard';
  instruction: string;
  answer: string;
}

/** The evaluation set, deterministic: distinct instances per (family, level), phrased with random templates. */
export function makeEvalSet(perLevel: number = EVAL_PER_LEVEL, seed: number = EVAL_SEED): EvalItem[] {
  const rng = new Rng(seed);
  const items: EvalItem[] = [];
  for (const family of FAMILY_NAMES) {
    for (let d = 1; d <= MAX_DIFFICULTY; d++) {
      const seen = new Set<string>();
      for (let i = 0; i < perLevel; i++) {
        const instance = generateInstance(rng, family, d, { exclude: seen });
        seen.add(instanceKey(instance));
        const id = `${family}-d${d}-${String(i).padStart(3, '0')}`;
        const split = d <= EASY_MAX ? 'easy' : 'hard';
        items.push({ id, family, difficulty: d, split, instruction: phrase(rng, instance), answer: referenceAnswer(instance) });
      }
    }
  }
  return items;
}

/**
 * The number of distinct instances of a (family, level), estimated from `draws` seeded draws (the S with
 * S (1 - exp(-draws / S)) = distinct, for uniform draws; Infinity when every draw was new), and the share of the
 * distinct draws not in `exclude`.
 */
export function estimateLevelSize(rng: Rng, family: FamilyName, difficulty: number, exclude: ReadonlySet<string>, draws = 2000): { size: number; freeShare: number } {
  const seen = new Set<string>();
  for (let i = 0; i < draws; i++) seen.add(instanceKey(generateInstance(rng, family, difficulty)));
  const d = seen.size;
  const freeShare = [...seen].filter((k) => !exclude.has(k)).length / d;
  if (d >= draws) return { size: Infinity, freeShare };
  let [lo, hi] = [d, 1e12];
  for (let it = 0; it < 200; it++) {
    const mid = Math.sqrt(lo * hi);
    if (mid * (1 - Math.exp(-draws / mid)) < d) lo = mid;
    else hi = mid;
  }
  return { size: lo, freeShare };
}

/** Items a level may give: LARGE_EVAL_MAX_SHARE of its instances, and at most half of those not excluded. */
function levelCap(e: { size: number; freeShare: number }, perFamily: number): number {
  const cap = Math.min(LARGE_EVAL_MAX_SHARE * e.size, 0.5 * e.freeShare * e.size);
  return Number.isFinite(cap) ? Math.floor(cap) : perFamily;
}

/**
 * Items per level (index 0 = level 1) summing to `total`: as even as the caps allow, a level's shortfall spread over
 * the levels with room (the smallest caps are served first).
 */
export function levelQuotas(total: number, caps: readonly number[]): number[] {
  const quotas = caps.map(() => 0);
  const order = caps.map((_, i) => i).sort((a, b) => caps[a] - caps[b] || a - b);
  let left = total;
  order.forEach((level, k) => {
    quotas[level] = Math.min(caps[level], Math.floor(left / (order.length - k)));
    left -= quotas[level];
  });
  if (left > 0) throw new InputError(`levelQuotas: the caps ${caps.join(', ')} hold fewer than ${total} items`);
  return quotas;
}

/**
 * The larger held-out set: `perFamily` items per family over levels 1..MAX_DIFFICULTY (levelQuotas with caps
 * LARGE_EVAL_MAX_SHARE of each level's estimated size), disjoint from the first evaluation file's instances and
 * from `exclude` (scripts/make-evalset.ts passes the shipped model's replayable pretraining draws).
 */
export function makeLargeEvalSet(exclude: ReadonlySet<string> = new Set(), perFamily: number = LARGE_EVAL_PER_FAMILY, seed: number = LARGE_EVAL_SEED, families: readonly FamilyName[] = FAMILY_NAMES): EvalItem[] {
  const rng = new Rng(seed);
  const first = new Set([...evalInstanceKeys([EVAL_SET_PATH]), ...exclude]);
  const items: EvalItem[] = [];
  for (const family of families) {
    const caps = Array.from({ length: MAX_DIFFICULTY }, (_, i) => levelCap(estimateLevelSize(rng, family, i + 1, first), perFamily));
    const quotas = levelQuotas(perFamily, caps);
    for (let d = 1; d <= MAX_DIFFICULTY; d++) {
      const seen = new Set(first);
      for (let i = 0; i < quotas[d - 1]; i++) {
        const instance = generateInstance(rng, family, d, { exclude: seen });
        seen.add(instanceKey(instance));
        const id = `${family}-d${d}-L${String(i).padStart(3, '0')}`;
        items.push({ id, family, difficulty: d, split: d <= EASY_MAX ? 'easy' : 'hard', instruction: phrase(rng, instance), answer: referenceAnswer(instance) });
      }
    }
  }
  return items;
}

/**
 * World v4's large held-out set, in family order: v3's items of every family v4 kept (`v3Items`, verbatim) and, for
 * the families new in v4, makeLargeEvalSet's draw (disjoint from the first file; no earlier run drew them).
 */
export function makeLargeEvalSetV4(v3Items: readonly EvalItem[]): EvalItem[] {
  const fresh = makeLargeEvalSet(new Set(), LARGE_EVAL_PER_FAMILY, LARGE_EVAL_SEED, NEW_IN_V4);
  return FAMILY_NAMES.flatMap((family) => (NEW_IN_V4.includes(family) ? fresh : v3Items).filter((it) => it.family === family));
}

/** The evaluation set as JSON Lines text. */
export function evalSetToJsonl(items: readonly EvalItem[]): string {
  return items.map((it) => JSON.stringify(it)).join('\n') + '\n';
}

/** Reads an evaluation file; throws InputError naming the file and line when a line is malformed. */
export function loadEvalSet(path: string = EVAL_SET_PATH): EvalItem[] {
  const lines = fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    let item: EvalItem;
    try {
      item = JSON.parse(line) as EvalItem;
    } catch {
      throw new InputError(`${path}:${i + 1}: not valid JSON`);
    }
    for (const field of ['id', 'family', 'difficulty', 'split', 'instruction', 'answer'] as const) {
      if (item[field] === undefined) throw new InputError(`${path}:${i + 1}: missing field "${field}"`);
    }
    return item;
  });
}

const cachedKeys = new Map<string, ReadonlySet<string>>();

/**
 * Instance keys of the held-out files (by default all of them; a file that does not exist yet, e.g. while it is
 * being made, has none). Keys identify instances independently of the template, so no phrasing of a held-out
 * instance is trained on.
 */
export function evalInstanceKeys(paths: readonly string[] = HELD_OUT_PATHS): ReadonlySet<string> {
  if (paths.length === 1) return fileInstanceKeys(paths[0]);
  const union = new Set<string>();
  for (const p of paths) for (const k of fileInstanceKeys(p)) union.add(k);
  return union;
}

function fileInstanceKeys(path: string): ReadonlySet<string> {
  let keys = cachedKeys.get(path);
  if (!keys) {
    const set = new Set<string>();
    if (fs.existsSync(path)) {
      for (const item of loadEvalSet(path)) {
        const c = classify(item.instruction);
        if (!c.valid) throw new InputError(`${path}: item ${item.id} is not a valid instruction (${c.reason})`);
        set.add(instanceKey(c.instance));
      }
    }
    keys = set;
    cachedKeys.set(path, keys);
  }
  return keys;
}
