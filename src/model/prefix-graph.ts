/**
 * The shared-prefix train step: B rows that all continue one prefix (the challenger's Box 1 prompt, the judge's
 * Box 3 text). The prefix is computed once, as a single row; every row's queries attend to its keys and values,
 * broadcast over the batch, so gradients from all rows flow back into the one prefix computation.
 * Equal to training on the B concatenations prefix + row, at a fraction of the cost.
 *
 * logprobs [B, T]: entry t is log p(row token t | prefix, row tokens < t); entry 0 is predicted by the prefix's
 * last position. Rows are right-padded (attention_mask), the prefix is not.
 */
import { ShapeError } from '../errors.ts';
import {
  add,
  causalBias,
  concat,
  contextAttention,
  expand,
  Graph,
  groupedAttention,
  paddingBias,
  slice,
  type Tensor,
  toOnnx,
} from '../tensor/index.ts';
import type { LlamaConfig } from './config.ts';
import type { LoraConfig } from './lora.ts';
import { assembleTrainGraph, type BuiltGraph, type LossSpec, modelInputs } from './graphs.ts';
import { type AttendFn, type DeclareOptions, declareParams, decoderStack, embed, headTokenLogprobs, type Params, ropeConstants } from './llama.ts';

export const PREFIX_IDS = 'prefix_ids'; // int64 [1, P]

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Per-token log-probs [B, T] of rows continuing a shared prefix of length P. */
export function prefixRowLogprobs(g: Graph, cfg: LlamaConfig, params: Params, P: number, B: number, T: number): Tensor {
  if (P < 1) throw new ShapeError(`shared-prefix graph: prefix length ${P} must be at least 1`);
  const R = cfg.numHeads / cfg.numKvHeads;
  const prefixIds = g.input(PREFIX_IDS, [1, P], 'int64');
  const rows = modelInputs(g, B, T);
  // the prefix, once: plain causal attention; keep each layer's keys and values for the rows
  const prefixKv: { k: Tensor; v: Tensor; bias: null }[] = [];
  const prefixBias = causalBias(g, R, P);
  const attendPrefix: AttendFn = (layer, q, k, v) => {
    prefixKv[layer] = { k, v, bias: null };
    return groupedAttention(q, k, v, prefixBias);
  };
  const prefixRope = ropeConstants(g, cfg, range(0, P));
  const prefixHidden_1_P_C = decoderStack(cfg, params, embed(params, prefixIds), prefixRope.cos, prefixRope.sin, attendPrefix);
  // the rows: positions P.., attending to the whole prefix and causally to themselves
  const rowBias = add(causalBias(g, R, T), paddingBias(rows.mask_B_T));
  const attendRows: AttendFn = (layer, q, k, v) => contextAttention(q, prefixKv[layer], k, v, rowBias);
  const rowRope = ropeConstants(g, cfg, range(P, T));
  const rowHidden_B_T_C = decoderStack(cfg, params, embed(params, rows.ids_B_T), rowRope.cos, rowRope.sin, attendRows);
  const C = cfg.hiddenSize;
  const lastPrefix_B_1_C = expand(slice(prefixHidden_1_P_C, 1, P - 1, P), [B, 1, C]);
  const predictors_B_T_C = concat([lastPrefix_B_1_C, slice(rowHidden_B_T_C, 1, 0, T - 1)], 1);
  return headTokenLogprobs(cfg, params, predictors_B_T_C, rows.ids_B_T);
}

/** Graph: parameters + prefix_ids [1, P] + rows (input_ids, attention_mask [B, T]) -> `logprobs` [B, T]. */
export function buildPrefixLogprobsGraph(cfg: LlamaConfig, P: number, B: number, T: number, lora?: LoraConfig): BuiltGraph {
  const g = new Graph(`prefix_logprobs_P${P}_B${B}_T${T}`);
  const { params } = declareParams(g, cfg, { lora });
  return { bytes: toOnnx(g, { logprobs: prefixRowLogprobs(g, cfg, params, P, B, T) }), extraInputs: new Map() };
}

/** Graph: parameters + prefix_ids [1, P] + rows (input_ids, attention_mask [B, T]) + loss inputs -> loss, grads. */
export function buildPrefixTrainGraph(
  cfg: LlamaConfig,
  P: number,
  B: number,
  T: number,
  loss: LossSpec,
  opts: DeclareOptions = { trainable: () => true },
): BuiltGraph & { trained: string[] } {
  const g = new Graph(`prefix_train_${loss.name}_P${P}_B${B}_T${T}`);
  const { params, trained } = declareParams(g, cfg, opts);
  return assembleTrainGraph(g, trained, prefixRowLogprobs(g, cfg, params, P, B, T), loss);
}
