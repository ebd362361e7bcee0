/**
 * The `reward-model:DIR` judge: a LlamaForSequenceClassification folder scores each (instruction, answer); the
 * higher score wins, equal scores tie.
 */
import type { Runtime } from '../../runtime/runtime.ts';
import type { Preference } from '../stats.ts';
import { JudgeError, preferenceFromScores, type JudgePair, type PairJudge } from './types.ts';

/** What this judge needs from RewardModel (src/model/reward-model.ts). */
export interface RewardScorer {
  score(pairs: { prompt: string; response: string }[]): Promise<number[]>;
}

export class RewardModelJudge implements PairJudge {
  readonly name: string;
  private scored = 0;

  constructor(
    private readonly scorer: RewardScorer,
    dir: string,
    /** Pairs per scoring call (each pair is two rows). */
    private readonly batchSize = 16,
  ) {
    this.name = `reward-model:${dir}`;
  }

  async judge(pairs: readonly JudgePair[], onProgress?: (done: number) => void): Promise<Preference[]> {
    const prefs: Preference[] = [];
    for (let i = 0; i < pairs.length; i += this.batchSize) {
      const batch = pairs.slice(i, i + this.batchSize);
      const rows = [
        ...batch.map((p) => ({ prompt: p.prompt.instruction, response: p.model })),
        ...batch.map((p) => ({ prompt: p.prompt.instruction, response: p.baseline })),
      ];
      const scores = await this.scorer.score(rows);
      if (scores.length !== rows.length) throw new JudgeError(`${this.name}: ${scores.length} scores for ${rows.length} answers`);
      batch.forEach((_, j) => prefs.push(preferenceFromScores(scores[j], scores[batch.length + j])));
      this.scored += rows.length;
      onProgress?.(prefs.length);
    }
    return prefs;
  }

  counters(): Record<string, number> {
    return { answers_scored: this.scored };
  }
}

/**
 * Loads the reward model in `dir`. RewardModel lives in src/model/reward-model.ts, written concurrently with this
 * file; it is imported at run time so this module type-checks before it lands.
 * TODO: switch to a static import once src/model/reward-model.ts is committed.
 */
export async function loadRewardModelJudge(dir: string, runtime: Runtime): Promise<RewardModelJudge> {
  const modulePath = new URL('../../model/reward-model.ts', import.meta.url).href;
  let mod: { RewardModel?: { load(dir: string, runtime: Runtime): RewardScorer | Promise<RewardScorer> } };
  try {
    mod = await import(modulePath);
  } catch (e) {
    throw new JudgeError(`judge reward-model:${dir}: the reward model loader is not available (${(e as Error).message})`);
  }
  if (!mod.RewardModel) throw new JudgeError(`judge reward-model:${dir}: src/model/reward-model.ts has no RewardModel`);
  return new RewardModelJudge(await mod.RewardModel.load(dir, runtime), dir);
}
