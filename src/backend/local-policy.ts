/**
 * LocalBackend's engine work (backend/local.ts): the policy-gradient pass of one iteration: sampled rows (prompt ids + sampled tokens) with their advantages go
 * through the train graph in micro-batches; gradients are summed (advantages arrive already divided by their
 * normaliser, so the sum is the gradient of L = L_sol + alpha_ch * L_ch). The reference model's log-probs of the
 * same tokens come from {@link referenceLogprobs}. Rows whose prompts share a long prefix (the challenger's Box 1
 * text) compute it once per micro-batch (src/model/prefix-graph.ts).
 */
import { commonPrefixLength, sharedPrefixLength } from '../generate/generator.ts';
import { ModelEngine, padBatch, T_BUCKET } from '../model/engine.ts';
import { InputError } from '../errors.ts';
import { type LossSpec, weightedNll } from '../model/graphs.ts';
import { IS_INPUTS, POLICY_INPUTS } from '../rl/losses.ts';
import type { CrossEntropyRow, TrainRow } from './backend.ts';

/** One sampled sequence to learn from (backend.ts). */
export type PolicyRow = TrainRow;

export interface PolicyGradient {
  loss: number;
  grads: Map<string, Float32Array>;
  /** Max |train-path log-prob - sampler log-prob| over all sampled tokens. */
  logpDiff: number;
  /** Sum over rows of the train-path sequence log-prob (for a sanity metric). */
  tokens: number;
}

/** Prompt prefixes shorter than this are not worth a separate shared-prefix graph. */
const MIN_SHARED_PREFIX = 32;
/** Shared prefixes are cut down to a multiple of this, so prompts that differ a little share compiled graphs. */
const PREFIX_BUCKET = 16;

/**
 * How a micro-batch is laid out: with a shared prompt prefix (the challenger's Box 1 text up to the task) it is
 * computed once per micro-batch and the rows hold the rest; `at(r, k)` is the column of row r's sampled token k in
 * the log-prob matrix of width `width(T)`.
 */
interface Layout {
  prefix: number[];
  row(r: { promptIds: number[]; tokens: number[] }): number[];
  at(r: { promptIds: number[] }, k: number): number;
  width(T: number): number;
}

/** Entry t of the plain graph predicts token t + 1. */
const plainLayout: Layout = { prefix: [], row: (r) => [...r.promptIds, ...r.tokens], at: (r, k) => r.promptIds.length + k - 1, width: (T) => T - 1 };

/** Entry t of the shared-prefix graph predicts row token t (entry 0: the prefix's last position predicts it). */
function sharedLayout(prefix: number[]): Layout {
  const P = prefix.length;
  return { prefix, row: (r) => [...r.promptIds.slice(P), ...r.tokens], at: (r, k) => r.promptIds.length - P + k, width: (T) => T };
}

/** The layout for these rows: a shared prefix when their prompts share at least MIN_SHARED_PREFIX tokens. */
function layoutOf(rows: { promptIds: number[] }[], sharePrefix: boolean): Layout {
  const P = sharePrefix && rows.length > 1 ? Math.floor(sharedPrefixLength(rows.map((r) => r.promptIds)) / PREFIX_BUCKET) * PREFIX_BUCKET : 0;
  return P < MIN_SHARED_PREFIX ? plainLayout : sharedLayout(rows[0].promptIds.slice(0, P));
}

/** log pi_ref of each row's sampled tokens, from the frozen reference engine, in micro-batches. */
export async function referenceLogprobs(
  ref: ModelEngine,
  rows: { promptIds: number[]; tokens: number[] }[],
  microBatch: number,
  sharePrefix = true,
): Promise<number[][]> {
  const out: number[][] = [];
  const layout = layoutOf(rows, sharePrefix);
  const longest = Math.max(...rows.map((r) => layout.row(r).length)); // every micro-batch padded alike: one graph
  for (let i = 0; i < rows.length; i += microBatch) {
    const chunk = rows.slice(i, i + microBatch);
    const seqs = chunk.map(layout.row);
    const lps = layout.prefix.length ? await ref.logprobsShared(layout.prefix, seqs, longest) : await ref.logprobs(seqs, longest);
    chunk.forEach((r, j) => out.push(r.tokens.map((_, k) => lps[j][layout.at(r, k) + (layout.prefix.length ? 0 : 1)] as number)));
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

/**
 * Loss inputs of one micro-batch: per-row advantage and KL coefficient, per-token mask and reference log-probs (the
 * local policy loss); with per-token advantages, also those and the sampler's log-probs (importance sampling).
 */
function lossInputs(rows: PolicyRow[], B: number, W: number, layout: Layout) {
  const perToken = rows.some((r) => r.tokenAdvantages);
  const mask = new Float32Array(B * W);
  const ref = new Float32Array(B * W);
  const adv = perToken ? new Float32Array(B * W) : null;
  const sampler = perToken ? new Float32Array(B * W) : null;
  rows.forEach((r, b) => {
    r.tokens.forEach((_, k) => {
      const at = b * W + layout.at(r, k);
      mask[at] = 1;
      ref[at] = r.refLogprobs[k];
      if (adv && sampler) {
        adv[at] = r.tokenAdvantages?.[k] ?? 0;
        sampler[at] = r.samplerLogprobs[k];
      }
    });
  });
  return {
    [POLICY_INPUTS.advantages]: { data: Float32Array.from(rows.map((r) => r.advantage)), dims: [B] },
    [POLICY_INPUTS.klCoef]: { data: Float32Array.from(rows.map((r) => r.klCoef)), dims: [B] },
    [POLICY_INPUTS.tokenMask]: { data: mask, dims: [B, W] },
    [POLICY_INPUTS.refLogprobs]: { data: ref, dims: [B, W] },
    ...(adv && sampler ? { [IS_INPUTS.advantages]: { data: adv, dims: [B, W] }, [IS_INPUTS.samplerLogprobs]: { data: sampler, dims: [B, W] } } : {}),
  };
}

/**
 * Forward + backward of the policy loss over all rows; gradients summed over micro-batches of `microBatch` rows,
 * into `grads` (e.g. another role's gradients of the same step) or a fresh map. `sharePrefix` false always uses
 * the plain graph (the reference the shared-prefix path is tested against).
 */
export async function policyGradient(
  engine: ModelEngine,
  rows: PolicyRow[],
  loss: LossSpec,
  microBatch: number,
  grads = new Map<string, Float32Array>(),
  sharePrefix = true,
): Promise<PolicyGradient> {
  let total = 0;
  let logpDiff = 0;
  let tokens = 0;
  const layout = layoutOf(rows, sharePrefix);
  const longest = Math.max(...rows.map((r) => layout.row(r).length)); // every micro-batch padded alike: one graph
  for (let i = 0; i < rows.length; i += microBatch) {
    const chunk = rows.slice(i, i + microBatch);
    const batch = padBatch(chunk.map(layout.row), engine.cfg.vocabSize, T_BUCKET, longest);
    const W = layout.width(batch.T);
    const inputs = lossInputs(chunk, batch.B, W, layout);
    const step = layout.prefix.length ? await engine.trainStepShared(layout.prefix, batch, loss, inputs) : await engine.trainStep(batch, loss, inputs);
    total += step.loss;
    accumulateGrads(grads, step.grads);
    chunk.forEach((r, b) => {
      r.tokens.forEach((_, k) => {
        const lp = step.logprobs[b * W + layout.at(r, k)];
        logpDiff = Math.max(logpDiff, Math.abs(lp - r.samplerLogprobs[k]));
      });
      tokens += r.tokens.length;
    });
  }
  return { loss: total, grads, logpDiff, tokens };
}

/**
 * The layout of cross-entropy rows: the rows' exact common prompt prefix (a whole challenger prompt, the judge's Box
 * 3 head) computed once, when at least MIN_SHARED_PREFIX tokens; exact rather than bucketed, so pretraining runs the
 * same graphs (prefix lengths, shapes, sums) as it always did and its weights stay bit-identical.
 */
function crossEntropyLayout(rows: CrossEntropyRow[]): Layout {
  const P = commonPrefixLength(rows.map((r) => r.promptIds));
  if (P < MIN_SHARED_PREFIX) return plainLayout;
  const layout = sharedLayout(rows[0].promptIds.slice(0, P));
  return Math.max(...rows.map((r) => layout.row(r).length)) >= 2 ? layout : plainLayout; // a graph needs 2 positions
}

/** How many prompt tokens forwardBackwardCrossEntropy computes once for all these rows (0: the plain graph). */
export const crossEntropyPrefixLength = (rows: CrossEntropyRow[]): number => crossEntropyLayout(rows).prefix.length;

/** Every row has a prompt token (the first token has nothing predicting it) and one finite weight per token. */
function checkCrossEntropyRows(rows: CrossEntropyRow[]): void {
  if (rows.length === 0) throw new InputError('forwardBackwardCrossEntropy: no rows');
  rows.forEach((r, i) => {
    const at = `forwardBackwardCrossEntropy: row ${i}`;
    if (r.promptIds.length === 0) throw new InputError(`${at}: promptIds is empty; its first token would have nothing predicting it`);
    if (r.weights.length !== r.tokens.length) throw new InputError(`${at}: ${r.weights.length} weights for ${r.tokens.length} tokens; give one per token`);
    const bad = r.weights.findIndex((w) => !Number.isFinite(w));
    if (bad >= 0) throw new InputError(`${at}: weights[${bad}] is ${r.weights[bad]}; weights must be finite numbers`);
  });
}

/**
 * Forward + backward of sum_rows sum_k weights[k] * -log p(tokens[k] | promptIds, tokens[<k]) (the `weighted_nll`
 * graph loss), in micro-batches of `microBatch` rows, every one padded alike; gradients summed into `grads`.
 */
export async function crossEntropyGradient(
  engine: ModelEngine,
  rows: CrossEntropyRow[],
  microBatch: number,
  grads = new Map<string, Float32Array>(),
): Promise<{ loss: number; tokens: number; grads: Map<string, Float32Array> }> {
  checkCrossEntropyRows(rows);
  const layout = crossEntropyLayout(rows);
  const longest = Math.max(...rows.map((r) => layout.row(r).length));
  let loss = 0;
  let tokens = 0;
  for (let i = 0; i < rows.length; i += microBatch) {
    const chunk = rows.slice(i, i + microBatch);
    const batch = padBatch(chunk.map(layout.row), engine.cfg.vocabSize, T_BUCKET, longest);
    const W = layout.width(batch.T);
    const w_B_W = new Float32Array(batch.B * W);
    chunk.forEach((r, b) => r.weights.forEach((x, k) => (w_B_W[b * W + layout.at(r, k)] = x)));
    const inputs = { token_weights: { data: w_B_W, dims: [batch.B, W] } };
    const step = layout.prefix.length ? await engine.trainStepShared(layout.prefix, batch, weightedNll, inputs) : await engine.trainStep(batch, weightedNll, inputs);
    loss += step.loss;
    accumulateGrads(grads, step.grads);
    tokens += chunk.reduce((a, r) => a + r.tokens.length, 0);
  }
  return { loss, tokens, grads };
}
