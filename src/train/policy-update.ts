/**
 * The policy-gradient pass of one iteration: sampled rows (prompt ids + sampled tokens) with their advantages go
 * through the train graph in micro-batches; gradients are summed (advantages arrive already divided by their
 * normaliser, so the sum is the gradient of L = L_sol + alpha_ch * L_ch). The reference model's log-probs of the
 * same tokens come from {@link referenceLogprobs}.
 */
import { ModelEngine, padBatch } from '../model/engine.ts';
import type { LossSpec } from '../model/graphs.ts';
import { POLICY_INPUTS } from '../rl/losses.ts';

/** One sampled sequence to learn from. */
export interface PolicyRow {
  promptIds: number[];
  /** Sampled tokens (the completion); the loss and KL cover exactly these. */
  tokens: number[];
  /** log pi_ref of each sampled token. */
  refLogprobs: number[];
  /** The sampler's log pi of each sampled token (for the sampling/logp_diff metric). */
  samplerLogprobs: number[];
  /** Advantage times its normaliser, e.g. A_sol/(N*G) or alpha_ch*A_ch/N. */
  advantage: number;
  /** beta of the row's role times the same normaliser. */
  klCoef: number;
}

export interface PolicyGradient {
  loss: number;
  grads: Map<string, Float32Array>;
  /** Max |train-path log-prob - sampler log-prob| over all sampled tokens. */
  logpDiff: number;
  /** Sum over rows of the train-path sequence log-prob (for a sanity metric). */
  tokens: number;
}

/** log pi_ref of each row's sampled tokens, from the frozen reference engine, in micro-batches. */
export async function referenceLogprobs(ref: ModelEngine, rows: { promptIds: number[]; tokens: number[] }[], microBatch: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < rows.length; i += microBatch) {
    const chunk = rows.slice(i, i + microBatch);
    const lps = await ref.logprobs(chunk.map((r) => [...r.promptIds, ...r.tokens]));
    chunk.forEach((r, j) => out.push(lps[j].slice(r.promptIds.length) as number[]));
  }
  return out;
}

/**
 * total += grads, by name. A name `total` lacks takes the array itself (a train step's gradients are fresh arrays
 * the caller owns): at 10^8 parameters a copy per micro-batch would be a pass over 400 MB for nothing.
 */
export function accumulateGrads(total: Map<string, Float32Array>, grads: Map<string, Float32Array>): void {
  for (const [name, g] of grads) {
    const t = total.get(name);
    if (!t) total.set(name, g);
    else for (let i = 0; i < g.length; i++) t[i] += g[i];
  }
}

/** Loss inputs of one micro-batch: per-row advantage and KL coefficient, per-token mask and reference log-probs. */
function lossInputs(rows: PolicyRow[], B: number, T: number) {
  const W = T - 1; // entry t predicts token t+1
  const mask = new Float32Array(B * W);
  const ref = new Float32Array(B * W);
  rows.forEach((r, b) => {
    r.tokens.forEach((_, k) => {
      const at = b * W + r.promptIds.length + k - 1;
      mask[at] = 1;
      ref[at] = r.refLogprobs[k];
    });
  });
  return {
    [POLICY_INPUTS.advantages]: { data: Float32Array.from(rows.map((r) => r.advantage)), dims: [B] },
    [POLICY_INPUTS.klCoef]: { data: Float32Array.from(rows.map((r) => r.klCoef)), dims: [B] },
    [POLICY_INPUTS.tokenMask]: { data: mask, dims: [B, W] },
    [POLICY_INPUTS.refLogprobs]: { data: ref, dims: [B, W] },
  };
}

/**
 * Forward + backward of the policy loss over all rows; gradients summed over micro-batches of `microBatch` rows,
 * into `grads` (e.g. another role's gradients of the same step) or a fresh map.
 */
export async function policyGradient(
  engine: ModelEngine,
  rows: PolicyRow[],
  loss: LossSpec,
  microBatch: number,
  grads = new Map<string, Float32Array>(),
): Promise<PolicyGradient> {
  let total = 0;
  let logpDiff = 0;
  let tokens = 0;
  for (let i = 0; i < rows.length; i += microBatch) {
    const chunk = rows.slice(i, i + microBatch);
    const batch = padBatch(chunk.map((r) => [...r.promptIds, ...r.tokens]), engine.cfg.vocabSize);
    const step = await engine.trainStep(batch, loss, lossInputs(chunk, batch.B, batch.T));
    total += step.loss;
    accumulateGrads(grads, step.grads);
    chunk.forEach((r, b) => {
      r.tokens.forEach((_, k) => {
        const lp = step.logprobs[b * (batch.T - 1) + r.promptIds.length + k - 1];
        logpDiff = Math.max(logpDiff, Math.abs(lp - r.samplerLogprobs[k]));
      });
      tokens += r.tokens.length;
    });
  }
  return { loss: total, grads, logpDiff, tokens };
}
