/**
 * The dev set: where settings are tuned, never the held-out set. A seeded draw from the world generator of the
 * chosen (family, level)s, disjoint from both held-out files and from any instances the caller names (e.g. GRPO's
 * prompt set), so a setting chosen here has not seen the items the paper's doc reports.
 */
import type { EvalPrompt } from '../eval/sets.ts';
import { Rng } from '../util/rng.ts';
import { evalInstanceKeys } from '../world/evalset.ts';
import type { FamilyName } from '../world/types.ts';
import { generateInstance, instanceKey, phrase } from '../world/world.ts';

/** The dev draw's seed: its own, so it shares no stream with training, probes or the held-out sets. */
export const DEV_SEED = 0xde7_5e7;

/** `perLevel` distinct instances of each (family, level), none held out and none in `exclude`, as eval prompts. */
export function devPrompts(levels: readonly { family: string; difficulty: number }[], perLevel: number, exclude: Iterable<string> = [], seed = DEV_SEED): EvalPrompt[] {
  const rng = new Rng(seed);
  const skip = new Set([...evalInstanceKeys(), ...exclude]);
  return levels.flatMap(({ family, difficulty }) =>
    Array.from({ length: perLevel }, (_, i) => {
      const instance = generateInstance(rng, family as FamilyName, difficulty, { exclude: skip });
      skip.add(instanceKey(instance));
      return { id: `dev-${family}-L${difficulty}-${i}`, instruction: phrase(rng, instance), subset: family, instance };
    }),
  );
}
