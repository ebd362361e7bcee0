/**
 * The graphs built from the model: per-token log-probs (no gradient, e.g. for the frozen reference), full logits,
 * and the train step (a scalar loss built from per-token log-probs, and the gradient of every trainable parameter).
 *
 * Sequences are right-padded to T. logprobs_B_T1[b, t] = log p(ids[b, t+1] | ids[b, <=t]).
 */
import { ShapeError } from '../errors.ts';
import { Graph, grad, mul, neg, reduceSum, slice, type Tensor, toOnnx } from '../tensor/index.ts';
import type { LlamaConfig } from './config.ts';
import { type DeclareOptions, declareParams, headTokenLogprobs, llamaHidden, lmHead, type Params } from './llama.ts';
import type { LoraConfig } from './lora.ts';

/** Names of the non-parameter inputs every model graph takes. */
export const INPUT_IDS = 'input_ids'; // int64 [B, T]
export const ATTENTION_MASK = 'attention_mask'; // float [B, T]

export interface BuiltGraph {
  bytes: Uint8Array;
  /** Names of the graph's extra (non-parameter) inputs and their shapes. */
  extraInputs: Map<string, readonly number[]>;
}

export function modelInputs(g: Graph, B: number, T: number) {
  if (T < 2) throw new ShapeError(`model graph: sequence length ${T} must be at least 2`);
  return { ids_B_T: g.input(INPUT_IDS, [B, T], 'int64'), mask_B_T: g.input(ATTENTION_MASK, [B, T]) };
}

/** Per-token log-probs [B, T-1] of each sequence's own next tokens. */
function nextTokenLogprobs(g: Graph, cfg: LlamaConfig, params: Params, B: number, T: number): Tensor {
  const inputs = modelInputs(g, B, T);
  const hidden_B_T_C = llamaHidden(g, cfg, params, inputs);
  const targets_B_T1 = slice(inputs.ids_B_T, 1, 1, T);
  return headTokenLogprobs(cfg, params, slice(hidden_B_T_C, 1, 0, T - 1), targets_B_T1); // the last position predicts nothing here
}

/** Graph: parameters + ids + mask -> `logprobs` [B, T-1]. */
export function buildLogprobsGraph(cfg: LlamaConfig, B: number, T: number, lora?: LoraConfig): BuiltGraph {
  const g = new Graph(`logprobs_B${B}_T${T}`);
  const { params } = declareParams(g, cfg, { lora });
  const logprobs = nextTokenLogprobs(g, cfg, params, B, T);
  return { bytes: toOnnx(g, { logprobs }), extraInputs: new Map() };
}

/** Graph: parameters + ids + mask -> `logits` [B, T, V]. */
export function buildLogitsGraph(cfg: LlamaConfig, B: number, T: number, lora?: LoraConfig): BuiltGraph {
  const g = new Graph(`logits_B${B}_T${T}`);
  const { params } = declareParams(g, cfg, { lora });
  const logits = lmHead(cfg, params, llamaHidden(g, cfg, params, modelInputs(g, B, T)));
  return { bytes: toOnnx(g, { logits }), extraInputs: new Map() };
}

/** What a loss may use: the per-token log-probs and extra float inputs it declares. */
export interface LossContext {
  graph: Graph;
  logprobs_B_T1: Tensor;
  /** Declares an extra float input of the train graph (e.g. token weights, advantages, reference log-probs). */
  input(name: string, shape: readonly number[]): Tensor;
}

/** Builds a scalar loss. Its name keys the compiled-graph cache, so equal names must mean equal graphs. */
export interface LossSpec {
  name: string;
  build(ctx: LossContext): Tensor;
}

/**
 * Negative weighted log-likelihood: loss = -sum(token_weights * logprobs). With weights mask/num_tokens this is
 * the mean cross-entropy; normalising on the host keeps gradient accumulation over micro-batches exact.
 */
export const weightedNll: LossSpec = {
  name: 'weighted_nll',
  build: ({ logprobs_B_T1, input }) => neg(reduceSum(mul(logprobs_B_T1, input('token_weights', logprobs_B_T1.shape)))),
};

/**
 * Graph: parameters + ids + mask + the loss's inputs -> `loss`, `logprobs` [B, T-1] and `grad.<param>` for every
 * trainable parameter (all by default).
 */
export function buildTrainGraph(
  cfg: LlamaConfig,
  B: number,
  T: number,
  loss: LossSpec,
  opts: DeclareOptions = { trainable: () => true },
): BuiltGraph & { trained: string[] } {
  const g = new Graph(`train_${loss.name}_B${B}_T${T}`);
  const { params, trained } = declareParams(g, cfg, opts);
  return assembleTrainGraph(g, trained, nextTokenLogprobs(g, cfg, params, B, T), loss);
}

/** Adds the loss on top of per-token log-probs, differentiates it, and serialises loss, log-probs and gradients. */
export function assembleTrainGraph(g: Graph, trainedInputs: Params, logprobs: Tensor, loss: LossSpec): BuiltGraph & { trained: string[] } {
  const extraInputs = new Map<string, readonly number[]>();
  const input = (name: string, shape: readonly number[]) => {
    extraInputs.set(name, shape);
    return g.input(name, shape);
  };
  const lossValue = loss.build({ graph: g, logprobs_B_T1: logprobs, input });
  const trained = [...trainedInputs.keys()];
  const grads = grad(lossValue, [...trainedInputs.values()]);
  const outputs: Record<string, Tensor> = { loss: lossValue, logprobs };
  trained.forEach((n, i) => (outputs[`grad.${n}`] = grads[i]));
  return { bytes: toOnnx(g, outputs), extraInputs, trained };
}
