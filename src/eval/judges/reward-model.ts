/**
 * The `reward-model:DIR` judge: a LlamaForSequenceClassification folder scores each (instruction, answer); the
 * higher score wins, equal scores tie.
 */
import { RewardModel } from '../../model/reward-model.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Preference } from '../stats.ts';
import { JudgeError, preferenceFromScores, type JudgePair, type PairJudge } from './types.ts';

/** What this judge needs from a reward model (RewardModel, or a stand-in in tests). */
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

/** Loads the LlamaForSequenceClassification folder `dir` (src/model/reward-model.ts) as a judge. */
export function loadRewardModelJudge(dir: string, runtime: Runtime): RewardModelJudge {
  return new RewardModelJudge(RewardModel.load(dir, runtime, 'reward-judge'), dir);
}
