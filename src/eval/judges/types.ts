/**
 * The pairwise judge interface: given an instruction, the evaluated model's answer and the baseline's answer,
 * a preference for the model (1 better, 0.5 tie, 0 worse). Implementations: verifier.ts (the world's reward),
 * reward-model.ts (a sequence-classification model's score), openai.ts (an LLM behind an OpenAI-compatible API).
 */
import type { EvalPrompt } from '../sets.ts';
import type { Preference } from '../stats.ts';

/** One instruction with both answers. */
export interface JudgePair {
  prompt: EvalPrompt;
  /** The evaluated model's answer. */
  model: string;
  /** The baseline's answer. */
  baseline: string;
}

export interface PairJudge {
  /** Names the judge in reports, e.g. "verifier" or "openai:http://host/v1 (gpt-4o)". */
  readonly name: string;
  /** One preference per pair, in order; `onProgress` gets the number of pairs judged so far. */
  judge(pairs: readonly JudgePair[], onProgress?: (done: number) => void): Promise<Preference[]>;
  /** Counters for the report (requests sent, cache hits, unparsed verdicts...), namespaced by the caller. */
  counters(): Record<string, number>;
}

export { JudgeError } from '../../errors.ts';

/** Higher score wins; equal scores tie. */
export function preferenceFromScores(model: number, baseline: number): Preference {
  return model > baseline ? 1 : model < baseline ? 0 : 0.5;
}

/**
 * Combines the verdicts of the two presentation orders (each already expressed as a preference for the model):
 * when they agree that verdict stands; any disagreement (including win vs tie) is a tie, so a judge that always
 * prefers the first position contributes nothing but ties.
 */
export function combineOrders(modelFirst: Preference, modelSecond: Preference): Preference {
  return modelFirst === modelSecond ? modelFirst : 0.5;
}
