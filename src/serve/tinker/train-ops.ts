/**
 * forward, forward_backward and optim_step of `selfplay serve --tinker`: Tinker datums become this project's rows
 * and go through the model's LocalBackend, so a step through the server is the step a local run takes.
 *
 * A datum is `model_input` (T tokens) and `target_tokens` (T tokens: the input shifted by one, position t targets
 * token t + 1 -- anything else is refused), plus per position: `weights` (cross_entropy; default all 1) or the
 * sampler's `logprobs` and `advantages` (importance_sampling). The positions before the first non-zero weight
 * (resp. advantage or sampler log-prob) are the prompt: they carry no loss, and splitting there gives the backend the
 * same (prompt, completion) rows a local run builds, so the same graphs and the same float rounding.
 */
import type { CrossEntropyRow, TrainRow } from '../../backend/backend.ts';
import type { Datum, ForwardBackwardInput, ForwardBackwardOutput, ModelInput, TensorData, WireAdamParams } from '../../backend/tinker-schemas.ts';
import { RequestError } from '../protocol.ts';
import type { ServedModel } from './registry.ts';

/** Rows per forward/backward pass when loss_fn_config.micro_batch is not given. */
export const DEFAULT_MICRO_BATCH = 8;

/** The token ids of a model input (text chunks only). */
export function tokensOf(input: ModelInput, field: string): number[] {
  return input.chunks.flatMap((c, i) => {
    if (c.type !== 'encoded_text') throw new RequestError(`${field}.chunks.${i}: image chunks are not supported by this server`, `${field}.chunks.${i}`);
    return c.tokens;
  });
}

/** A dense float array of `n` values from a tensor (sparse CSR refused), or `fallback` when the tensor is absent. */
function values(t: TensorData | undefined, n: number, field: string, fallback?: number): number[] {
  if (!t) {
    if (fallback === undefined) throw new RequestError(`${field}: required by this loss`, field);
    return new Array<number>(n).fill(fallback);
  }
  if (t.sparse_crow_indices || t.sparse_col_indices) throw new RequestError(`${field}: sparse tensors are not supported; send dense data`, field);
  if (t.data.length !== n) throw new RequestError(`${field}: ${t.data.length} values for ${n} positions`, field);
  if (!t.data.every(Number.isFinite)) throw new RequestError(`${field}: values must be finite`, field);
  return t.data;
}

interface Sequence {
  /** model_input + the last target: T + 1 tokens. */
  full: number[];
  T: number;
}

function sequenceOf(d: Datum, at: string): Sequence {
  const input = tokensOf(d.model_input, `${at}.model_input`);
  const T = input.length;
  if (T === 0) throw new RequestError(`${at}.model_input: empty`, `${at}.model_input`);
  const field = `${at}.loss_fn_inputs.target_tokens`;
  const targets = values(d.loss_fn_inputs.target_tokens, T, field);
  if (!targets.every((x) => Number.isInteger(x) && x >= 0)) throw new RequestError(`${field}: token ids must be integers >= 0`, field);
  const bad = targets.findIndex((x, t) => t < T - 1 && x !== input[t + 1]);
  if (bad >= 0) throw new RequestError(`${field}: position ${bad} must target the next input token (${input[bad + 1]}), got ${targets[bad]}; this server trains on whole sequences`, field);
  return { full: [...input, targets[T - 1]], T };
}

/** First position carrying loss, from which on the positions are the completion (T when none does). */
const splitAt = (...per: number[][]) => {
  const i = per[0].findIndex((_, t) => per.some((a) => a[t] !== 0));
  return i < 0 ? per[0].length : i;
};

/** importance_sampling rows, and the datum index of each (datums with no advantage at all give no row). */
export function importanceRows(data: Datum[]): { rows: TrainRow[]; of: number[]; seqs: Sequence[] } {
  const rows: TrainRow[] = [];
  const of: number[] = [];
  const seqs = data.map((d, i) => sequenceOf(d, `forward_backward_input.data.${i}`));
  data.forEach((d, i) => {
    const at = `forward_backward_input.data.${i}.loss_fn_inputs`;
    const { full, T } = seqs[i];
    const adv = values(d.loss_fn_inputs.advantages, T, `${at}.advantages`);
    const q = values(d.loss_fn_inputs.logprobs, T, `${at}.logprobs`);
    const s = splitAt(adv, q);
    if (s === T) return;
    const tokens = full.slice(s + 1);
    rows.push({ promptIds: full.slice(0, s + 1), tokens, samplerLogprobs: q.slice(s), tokenAdvantages: adv.slice(s), refLogprobs: new Array<number>(tokens.length).fill(0), advantage: 0, klCoef: 0 });
    of.push(i);
  });
  return { rows, of, seqs };
}

/** cross_entropy rows (weights default to 1, as SkyRL tx does), and the datum index of each. */
export function crossEntropyRows(data: Datum[], prefix: string): { rows: CrossEntropyRow[]; of: number[]; seqs: Sequence[] } {
  const rows: CrossEntropyRow[] = [];
  const of: number[] = [];
  const seqs = data.map((d, i) => sequenceOf(d, `${prefix}.data.${i}`));
  data.forEach((d, i) => {
    const { full, T } = seqs[i];
    const w = values(d.loss_fn_inputs.weights, T, `${prefix}.data.${i}.loss_fn_inputs.weights`, 1);
    const s = splitAt(w);
    if (s === T) return;
    rows.push({ promptIds: full.slice(0, s + 1), tokens: full.slice(s + 1), weights: w.slice(s) });
    of.push(i);
  });
  return { rows, of, seqs };
}

function microBatchOf(input: ForwardBackwardInput, field: string): number {
  const mb = input.loss_fn_config?.micro_batch ?? DEFAULT_MICRO_BATCH;
  if (!(Number.isInteger(mb) && mb > 0 && mb <= 4096)) throw new RequestError(`${field}.loss_fn_config.micro_batch: a positive integer <= 4096, got ${mb}`, `${field}.loss_fn_config.micro_batch`);
  return mb;
}

/** Per datum: the log-prob of each target under the model now (0 at prompt positions), as loss_fn_outputs. */
async function outputsOf(m: ServedModel, rows: { promptIds: number[]; tokens: number[] }[], of: number[], seqs: Sequence[], mb: number): Promise<Record<string, TensorData>[]> {
  const lps = rows.length ? await m.backend.policy.logprobs(rows, mb) : [];
  const out = seqs.map(({ T }) => new Array<number>(T).fill(0));
  rows.forEach((r, j) => lps[j].forEach((lp, k) => (out[of[j]][r.promptIds.length - 1 + k] = lp)));
  return out.map((data) => ({ logprobs: { data, dtype: 'float32' as const, shape: [data.length] } }));
}

/**
 * JSON has no NaN or Infinity: a metric that is not finite is left out (a client reads its absence as not finite),
 * and so is a datum's output holding such a value (`{}`).
 */
export function finite(out: ForwardBackwardOutput): ForwardBackwardOutput {
  const metrics = Object.fromEntries(Object.entries(out.metrics).filter(([, v]) => Number.isFinite(v)));
  const loss_fn_outputs = out.loss_fn_outputs.map((o) => (Object.values(o).every((t) => t.data.every(Number.isFinite)) ? o : {}));
  return { ...out, metrics, loss_fn_outputs };
}

/** Checked before the work is queued: the loss is one this server computes and every datum converts. */
export function checkTrainInput(input: ForwardBackwardInput, field: string): void {
  if (input.loss_fn === 'ppo') throw new RequestError(`${field}.loss_fn: ppo is not supported by this server (cross_entropy, importance_sampling)`, `${field}.loss_fn`);
  microBatchOf(input, field);
  if (input.loss_fn === 'importance_sampling') importanceRows(input.data);
  else crossEntropyRows(input.data, field);
}

/**
 * forward_backward: gradients accumulate in the model until optim_step. loss_fn_outputs carry each datum's target
 * log-probs (one extra forward pass) unless loss_fn_config.return_logprobs is 0 (extension).
 */
export async function forwardBackward(m: ServedModel, input: ForwardBackwardInput): Promise<ForwardBackwardOutput> {
  const mb = microBatchOf(input, 'forward_backward_input');
  const wantOutputs = input.loss_fn_config?.return_logprobs !== 0;
  if (input.loss_fn === 'importance_sampling') {
    const { rows, of, seqs } = importanceRows(input.data);
    const outputs = wantOutputs ? await outputsOf(m, rows, of, seqs, mb) : seqs.map(() => ({}));
    const r = rows.length ? await m.backend.forwardBackward(rows, 'importance_sampling', mb) : { loss: 0, logpDiff: 0, tokens: 0 };
    return finite({ loss_fn_output_type: 'importance_sampling', loss_fn_outputs: outputs, metrics: { 'loss:sum': r.loss, 'logp_diff:max': r.logpDiff, 'tokens:sum': r.tokens } });
  }
  const { rows, of, seqs } = crossEntropyRows(input.data, 'forward_backward_input');
  const outputs = wantOutputs ? await outputsOf(m, rows, of, seqs, mb) : seqs.map(() => ({}));
  const r = rows.length ? await m.backend.forwardBackwardCrossEntropy(rows, mb) : { loss: 0, tokens: 0 };
  return finite({ loss_fn_output_type: 'cross_entropy', loss_fn_outputs: outputs, metrics: { 'loss:sum': r.loss, 'tokens:sum': r.tokens } });
}

/** forward: the same log-probs and loss as forward_backward, without gradients. */
export async function forward(m: ServedModel, input: ForwardBackwardInput): Promise<ForwardBackwardOutput> {
  const mb = microBatchOf(input, 'forward_input');
  if (input.loss_fn === 'importance_sampling') {
    const { rows, of, seqs } = importanceRows(input.data);
    const outputs = await outputsOf(m, rows, of, seqs, mb);
    let loss = 0;
    rows.forEach((r, j) => r.tokens.forEach((_, k) => {
      const lp = outputs[of[j]].logprobs.data[r.promptIds.length - 1 + k];
      loss -= Math.exp(lp - r.samplerLogprobs[k]) * r.tokenAdvantages![k];
    }));
    return finite({ loss_fn_output_type: 'importance_sampling', loss_fn_outputs: outputs, metrics: { 'loss:sum': loss } });
  }
  const { rows, of, seqs } = crossEntropyRows(input.data, 'forward_input');
  const outputs = await outputsOf(m, rows, of, seqs, mb);
  let loss = 0;
  rows.forEach((r, j) => r.tokens.forEach((_, k) => (loss -= r.weights[k] * outputs[of[j]].logprobs.data[r.promptIds.length - 1 + k])));
  return finite({ loss_fn_output_type: 'cross_entropy', loss_fn_outputs: outputs, metrics: { 'loss:sum': loss } });
}

/**
 * optim_step: AdamW with these AdamParams (betas, eps, decoupled weight decay -- not on norm weights, as local
 * training -- and global-norm clipping, 0 = none), on the gradient accumulated since the last step.
 */
export async function optimStep(m: ServedModel, p: WireAdamParams, skip: boolean): Promise<{ metrics: Record<string, number> }> {
  Object.assign(m.backend.optimizer.options, { beta1: p.beta1, beta2: p.beta2, eps: p.eps, weightDecay: p.weight_decay, maxGradNorm: p.grad_clip_norm });
  const r = await m.backend.optimStep({ learningRate: p.learning_rate }, skip);
  if (r.applied) m.version++;
  // JSON has no NaN or Infinity: a non-finite norm is reported as grad_norm_finite 0 without grad_norm
  const norm: Record<string, number> = Number.isFinite(r.gradNorm) ? { grad_norm: r.gradNorm, grad_norm_finite: 1 } : { grad_norm_finite: 0 };
  return { metrics: { ...norm, applied: r.applied ? 1 : 0 } };
}
