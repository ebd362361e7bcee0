/**
 * The seam between the training loop (src/train/) and whatever holds the weights. The primitives mirror the Tinker
 * training API, so a remote engine can stand behind the same loop later:
 *
 *   sample           (policy or frozen reference) prompt token ids, n, sampling params -> tokens + sampler log-probs
 *   logprobs         log pi_ref of given sequences (a forward on the frozen reference)
 *   forwardBackward  rows with their targets, advantages and KL weights, and a named loss -> loss and metrics;
 *                    gradients accumulate in the backend until the next optimStep
 *   forwardBackwardCrossEntropy  rows with per-token weights -> weighted next-token NLL (pretraining, SFT)
 *   optimStep        Adam params -> grad norm, and whether the update was applied or skipped
 *   saveWeightsForSampler, saveState/loadState, exportHf
 *
 * The loops (LSP/GRPO in train/lsp.ts, pretraining in train/pretrain.ts) never see weight arrays, optimizer moments or the LoRA merge. LocalBackend (local.ts) is the ONNX
 * engine of this process with the exact local policy loss (src/rl/losses.ts).
 */
import type { Generation } from '../generate/generator.ts';
import type { SaveDtype } from '../model/save.ts';
import type { KlEstimator } from '../rl/losses.ts';
import { stepSeed } from '../util/rng.ts';

/** Sampling of one request (Tinker's SamplingParams; `stop` are token ids that end a row, included in its output). */
export interface SampleParams {
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
  seed: number;
  stop: number[];
}

/**
 * The seed of sample j of prompt i in a `sample` call seeded with `seed`. Every row has its own stream, and prompt i
 * of a batch samples as a batch of prompt i alone seeded with `seed + i`: a remote service answering one prompt per
 * request (seed + i each) draws the same tokens as the local batch, however it groups the requests.
 */
export const sampleRowSeed = (seed: number, prompt: number, sample: number): number => stepSeed((seed + prompt) >>> 0, sample, 0x5eed);

/** A model that samples and scores: the policy (current weights, as last saved for the sampler) or the reference. */
export interface SamplerEnd {
  /** n completions of each prompt, prompt-major (prompt 0's n, then prompt 1's...); row seeds by sampleRowSeed. */
  sample(prompts: number[][], n: number, params: SampleParams): Promise<Generation[]>;
  /** log p of each row's `tokens` given its prompt, in micro-batches of `microBatch` rows. */
  logprobs(rows: { promptIds: number[]; tokens: number[] }[], microBatch: number): Promise<number[][]>;
}

/** One sampled sequence to learn from (one datum of forward_backward). */
export interface TrainRow {
  promptIds: number[];
  /** Sampled tokens (the completion): the targets; the loss and KL cover exactly these. */
  tokens: number[];
  /** log pi_ref of each sampled token. */
  refLogprobs: number[];
  /** The sampler's log pi of each sampled token. */
  samplerLogprobs: number[];
  /** Advantage times its normaliser, e.g. A_sol/(N*G) or alpha_ch*A_ch/N. */
  advantage: number;
  /** beta of the row's role times the same normaliser. */
  klCoef: number;
  /**
   * Per-token advantages (one per sampled token), for the `importance_sampling` loss: the row's advantage with the
   * KL pull folded in (src/rl/kl-fold.ts). The local policy losses ignore them.
   */
  tokenAdvantages?: number[];
}

/**
 * The losses a backend computes, by name. `policy_<estimator>`: the exact local loss (src/rl/losses.ts);
 * `importance_sampling`: the Tinker API's loss on per-token advantages (rows carry `tokenAdvantages`).
 */
export type LossName = `policy_${KlEstimator}` | 'importance_sampling';

export interface ForwardBackwardResult {
  /** Sum of the loss over the rows. */
  loss: number;
  /** Max |train-path log-prob - sampler log-prob| over the rows' tokens. */
  logpDiff: number;
  /** Tokens trained on. */
  tokens: number;
}

/** One row of weighted next-token cross-entropy (pretraining/SFT; the Tinker API's `cross_entropy` loss). */
export interface CrossEntropyRow { promptIds: number[]; tokens: number[]; weights: number[] } // weights: one per token of `tokens`

/** Tinker's AdamParams; the rest of AdamW (betas, eps, weight decay, clipping) is fixed when the backend is made. */
export interface AdamParams {
  learningRate: number;
}

export interface OptimStepResult {
  /** Global L2 norm of the accumulated gradient, before clipping. */
  gradNorm: number;
  /** False when the step was skipped (asked to, or a non-finite gradient): the weights did not move. */
  applied: boolean;
}

/** What a checkpoint records about the backend's state besides its files. */
export interface SavedState {
  optimizerStep: number;
}

export interface PolicyBackend {
  readonly policy: SamplerEnd;
  readonly reference: SamplerEnd;
  forwardBackward(rows: TrainRow[], loss: LossName, microBatch: number): Promise<ForwardBackwardResult>;
  /**
   * loss = sum over rows and tokens of weights[i] * -log p(tokens[i] | promptIds, tokens[<i]), in micro-batches of
   * `microBatch` rows (every row needs at least one prompt token); gradients accumulate until optimStep, like
   * forwardBackward. `tokens`: how many tokens were scored.
   */
  forwardBackwardCrossEntropy(rows: CrossEntropyRow[], microBatch: number): Promise<{ loss: number; tokens: number }>;
  /** Applies the accumulated gradient (unless `skip`, or it is not finite) and clears it either way. */
  optimStep(params: AdamParams, skip?: boolean): Promise<OptimStepResult>;
  /** Makes the policy sampler see the weights after the last optimStep. */
  saveWeightsForSampler(): Promise<void>;
  /** Writes the trainable weights and optimizer state into `tmpDir` (a checkpoint being written; `dir` its final name). */
  saveState(tmpDir: string, dir: string): SavedState;
  /** Continues from a checkpoint folder written by saveState (throws ModelFormatError, changing nothing, if unusable). */
  loadState(dir: string, saved: SavedState): void;
  /**
   * The trained policy as an HF folder at `dir` (LoRA merged; the adapter itself in `adapterDir`, if given), its
   * weights stored as `dtype` (default float32).
   */
  exportHf(dir: string, o: { adapterDir?: string; extraFiles?: (tmp: string) => void; dtype?: SaveDtype }): void;
}
