/**
 * The held-out evaluation set: per family, instances at every difficulty level 1..MAX_DIFFICULTY (levels above
 * the pretraining range included), drawn from a seed no training run uses. Written once to a versioned file by
 * `npx tsx src/world/make-evalset.ts`; the corpus generator loads it and never emits one of its instances.
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
/** The versioned evaluation file in the repository. */
export const EVAL_SET_PATH = fileURLToPath(new URL('../../data/world-eval-v3.jsonl', import.meta.url));

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
 * Instance keys of the evaluation file (empty when the file does not exist yet, e.g. while it is being made).
 * Keys identify instances independently of the template, so no phrasing of an evaluation instance is trained on.
 */
export function evalInstanceKeys(path: string = EVAL_SET_PATH): ReadonlySet<string> {
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
