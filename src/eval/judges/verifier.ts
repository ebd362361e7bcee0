/** The `verifier` judge: the world's reward of each answer (exact match 1, partial credit below); higher wins. */
import { InputError } from '../../errors.ts';
import type { Preference } from '../stats.ts';
import { scoreAnswer } from '../../world/world.ts';
import { preferenceFromScores, type JudgePair, type PairJudge } from './types.ts';

export class VerifierJudge implements PairJudge {
  readonly name = 'verifier';

  async judge(pairs: readonly JudgePair[], onProgress?: (done: number) => void): Promise<Preference[]> {
    const prefs = pairs.map(({ prompt, model, baseline }) => {
      if (!prompt.instance) {
        throw new InputError(`judge verifier: instruction ${prompt.id} has no world instance; the verifier judges only --set world`);
      }
      return preferenceFromScores(scoreAnswer(prompt.instance, model), scoreAnswer(prompt.instance, baseline));
    });
    onProgress?.(pairs.length);
    return prefs;
  }

  counters(): Record<string, number> {
    return {};
  }
}
