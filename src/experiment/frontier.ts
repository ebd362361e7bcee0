/**
 * The frontier filter for GRPO prompt sets. A group of G answers teaches GRPO something only when its rewards
 * differ; a (family, level) the base model always or never solves gives all-equal groups and no gradient. So the
 * base model answers a probe set at temperature 1 (k samples per item, exact verifier success), and only the levels
 * whose success rate lies in [lo, hi] (default [0.2, 0.8]) are kept for the prompt set.
 *
 * Pure functions (levelSuccess, frontierLevels, filterFrontier) plus the measurement (measureLevelSuccess).
 */
import { InputError } from '../errors.ts';
import type { ChatModel } from '../generate/chat.ts';
import { Rng } from '../util/rng.ts';
import { evalInstanceKeys } from '../world/evalset.ts';
import { FAMILY_NAMES, MAX_DIFFICULTY } from '../world/types.ts';
import { classify, generateInstance, instanceKey, phrase, reward } from '../world/world.ts';

/** Success of one (family, level): exact answers among all samples. */
export interface LevelSuccess {
  family: string;
  difficulty: number;
  successes: number;
  trials: number;
  /** successes / trials. */
  rate: number;
}

export interface FrontierRange {
  lo: number;
  hi: number;
}

export const DEFAULT_FRONTIER: FrontierRange = { lo: 0.2, hi: 0.8 };

const levelKey = (family: string, difficulty: number) => `${family}|${difficulty}`;

/** Parses "lo,hi" (both in [0, 1], lo <= hi). */
export function parseFrontier(text: string, flag = '--grpo-frontier'): FrontierRange {
  const parts = text.split(',').map((s) => Number(s.trim()));
  const [lo, hi] = parts;
  if (parts.length !== 2 || !(lo >= 0 && hi <= 1 && lo <= hi)) throw new InputError(`${flag}: expected lo,hi with 0 <= lo <= hi <= 1 (e.g. 0.2,0.8), got "${text}"`);
  return { lo, hi };
}

/** Sums per-sample outcomes into one row per (family, level), in order of first appearance. */
export function levelSuccess(outcomes: readonly { family: string; difficulty: number; success: boolean }[]): LevelSuccess[] {
  const rows = new Map<string, LevelSuccess>();
  for (const o of outcomes) {
    const key = levelKey(o.family, o.difficulty);
    const row = rows.get(key) ?? { family: o.family, difficulty: o.difficulty, successes: 0, trials: 0, rate: 0 };
    row.successes += o.success ? 1 : 0;
    row.trials++;
    row.rate = row.successes / row.trials;
    rows.set(key, row);
  }
  return [...rows.values()];
}

/** The levels whose success rate is in [lo, hi] (both ends included). */
export function frontierLevels(levels: readonly LevelSuccess[], range: FrontierRange = DEFAULT_FRONTIER): LevelSuccess[] {
  return levels.filter((l) => l.trials > 0 && l.rate >= range.lo && l.rate <= range.hi);
}

/** The prompts whose (family, level) is one of `keep`, in order. */
export function filterFrontier<T extends { family: string; difficulty: number }>(prompts: readonly T[], keep: readonly LevelSuccess[]): T[] {
  const keys = new Set(keep.map((l) => levelKey(l.family, l.difficulty)));
  return prompts.filter((p) => keys.has(levelKey(p.family, p.difficulty)));
}

/** `perLevel` distinct instructions of every (family, level), none held out: the probe set. */
export function probeInstructions(seed: number, perLevel: number): string[] {
  const rng = new Rng(seed);
  const held = evalInstanceKeys();
  return FAMILY_NAMES.flatMap((family) =>
    Array.from({ length: MAX_DIFFICULTY }, (_, i) => {
      const exclude = new Set(held);
      return Array.from({ length: perLevel }, () => {
        const instance = generateInstance(rng, family, i + 1, { exclude });
        exclude.add(instanceKey(instance));
        return phrase(rng, instance);
      });
    }).flat(),
  );
}

/**
 * The base model's exact success per (family, level) on `instructions` (valid world instructions), k samples each
 * at temperature 1 (the sampling GRPO trains with).
 */
export async function measureLevelSuccess(model: ChatModel, instructions: readonly string[], k: number, seed: number, maxTokens: number): Promise<LevelSuccess[]> {
  const rows = instructions.flatMap((instruction) => Array<string>(k).fill(instruction));
  const done = await model.complete(rows, { temperature: 1, topP: 1, topK: 0, maxTokens }, seed, 64);
  return levelSuccess(
    rows.map((instruction, i) => {
      const c = classify(instruction);
      if (!c.valid) throw new InputError(`frontier probe: "${instruction}" is not a valid world instruction (${c.reason})`);
      return { family: c.family, difficulty: c.difficulty, success: reward(instruction, done[i].text.trim()) >= 1 };
    }),
  );
}
