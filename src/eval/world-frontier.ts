/**
 * The frontier probe of `selfplay eval --world-quality`: where RL has something to sharpen. On a dev draw (fresh
 * seeded instances per family and level, disjoint from the held-out files, never used for tuning anything else) it
 * measures per (family, level) the greedy accuracy, mean@k (the share of k samples at temperature 1 that are exact)
 * and pass@k (the share of items with at least one exact sample). A level is a **frontier level** when its greedy
 * accuracy is in FRONTIER_BAND and pass@k exceeds it by at least FRONTIER_MIN_GAIN: the model is imperfect there,
 * and its own samples hold right answers a reward can pull up. The check asks for such a level in at least
 * FRONTIER_MIN_FAMILIES families: the copy-like families (reverse, uppercase, repeat) go from solved at every trained
 * length to 0% at the first untrained one (a length cliff, not a frontier), so the frontier lives in the procedural
 * families (sort, add, largest), and the table shows every family's levels.
 */
import type { ChatModel } from '../generate/chat.ts';
import { Rng } from '../util/rng.ts';
import { evalInstanceKeys } from '../world/evalset.ts';
import { FAMILY_NAMES, MAX_DIFFICULTY } from '../world/types.ts';
import { generateInstance, instanceKey, phrase } from '../world/world.ts';
import { answerItems, itemOutcomes, type ModelAnswers } from './accuracy.ts';
import type { EvalPrompt } from './sets.ts';

/** The dev draw's seed (no training run or held-out file uses it). */
export const FRONTIER_DEV_SEED = 0xde_f207;
/** Greedy accuracy a frontier level must have: imperfect, but not hopeless. */
export const FRONTIER_BAND: readonly [number, number] = [0.2, 0.7];
/** Dev items per family and level, and samples per item, that `--world-quality` uses. */
export const FRONTIER_PER_LEVEL = 24;
export const FRONTIER_K = 8;
/** How far pass@k must exceed greedy accuracy on a frontier level (the room a reward can use). */
export const FRONTIER_MIN_GAIN = 0.1;
/** Families that must have a frontier level (half of the six). */
export const FRONTIER_MIN_FAMILIES = 3;

export interface FrontierLevel {
  family: string;
  difficulty: number;
  n: number;
  greedy: number;
  meanK: number;
  passK: number;
}

export interface FrontierSettings {
  perLevel: number;
  k: number;
  /** Sampling seed (the dev draw itself always comes from FRONTIER_DEV_SEED). */
  seed: number;
}

/** `perLevel` distinct instances per family and level from `seed`, none of them in a held-out file. */
export function frontierDevPrompts(perLevel: number, seed: number = FRONTIER_DEV_SEED, exclude: ReadonlySet<string> = evalInstanceKeys()): EvalPrompt[] {
  const rng = new Rng(seed);
  const out: EvalPrompt[] = [];
  for (const family of FAMILY_NAMES) {
    for (let d = 1; d <= MAX_DIFFICULTY; d++) {
      const seen = new Set(exclude);
      for (let i = 0; i < perLevel; i++) {
        const instance = generateInstance(rng, family, d, { exclude: seen });
        seen.add(instanceKey(instance));
        out.push({ id: `${family}-d${d}-dev${i}`, instruction: phrase(rng, instance), subset: family, instance });
      }
    }
  }
  return out;
}

/** Greedy, mean@k and pass@k per (family, level), in family and level order. */
export function frontierLevels(prompts: readonly EvalPrompt[], answers: ModelAnswers): FrontierLevel[] {
  const items = itemOutcomes(prompts, answers);
  const out: FrontierLevel[] = [];
  for (const family of FAMILY_NAMES) {
    for (let d = 1; d <= MAX_DIFFICULTY; d++) {
      const mine = items.filter((it) => it.family === family && it.difficulty === d);
      if (mine.length === 0) continue;
      const share = (f: (it: (typeof mine)[number]) => number) => mine.reduce((a, it) => a + f(it), 0) / mine.length;
      out.push({ family, difficulty: d, n: mine.length, greedy: share((it) => Number(it.greedy)), meanK: share((it) => it.meanK), passK: share((it) => Number(it.meanK > 0)) });
    }
  }
  return out;
}

/** Greedy accuracy in the band and pass@k at least FRONTIER_MIN_GAIN above it. */
export function isFrontier(l: FrontierLevel): boolean {
  return l.greedy >= FRONTIER_BAND[0] && l.greedy <= FRONTIER_BAND[1] && l.passK - l.greedy >= FRONTIER_MIN_GAIN - 1e-9;
}

/** The check: at least FRONTIER_MIN_FAMILIES families have a frontier level; the value names them and the others. */
export function frontierCheck(levels: readonly FrontierLevel[]): { name: string; pass: boolean; value: string } {
  const families = [...new Set(levels.map((l) => l.family))];
  const have = families.filter((f) => levels.some((l) => l.family === f && isFrontier(l)));
  const name = `frontier: >= ${FRONTIER_MIN_FAMILIES} families have a level with greedy in [${FRONTIER_BAND.map((x) => `${100 * x}%`).join(', ')}] and pass@k >= greedy + ${100 * FRONTIER_MIN_GAIN} points`;
  // fewer families measured (a test's slice) must all have one; none measured is no frontier
  const pass = families.length > 0 && have.length >= Math.min(FRONTIER_MIN_FAMILIES, families.length);
  const none = families.filter((f) => !have.includes(f));
  return { name, pass, value: `${have.length ? `in ${have.join(', ')}` : 'in no family'}${none.length ? `; none in ${none.join(', ')}` : ''}` };
}

/** Draws the dev set and answers it: one greedy answer and k samples at temperature 1 per item. */
export async function frontierQuality(model: ChatModel, s: FrontierSettings, quiet?: boolean): Promise<FrontierLevel[]> {
  const prompts = frontierDevPrompts(s.perLevel);
  const answers = await answerItems(model, prompts, { k: s.k, maxTokens: 48, seed: s.seed }, { name: 'frontier', quiet });
  return frontierLevels(prompts, answers);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Markdown: one row per (family, level). */
export function frontierTable(levels: readonly FrontierLevel[], k: number): string {
  const lines = [`| family | level | n | greedy | mean@${k} (T=1) | pass@${k} | frontier |`, '|---|---:|---:|---:|---:|---:|---|'];
  for (const l of levels) lines.push(`| ${l.family} | ${l.difficulty} | ${l.n} | ${pct(l.greedy)} | ${pct(l.meanK)} | ${pct(l.passK)} | ${isFrontier(l) ? 'yes' : ''} |`);
  return lines.join('\n');
}
