/**
 * The generation graph: "extend" a batch of sequences by Tn new tokens each, given a fixed-capacity key/value
 * cache of S slots. Prefill is extend with an empty (fully masked) cache; decode is extend with Tn = 1.
 *
 * The graph reads the cache but never copies or grows it: it returns only the new tokens' keys and values
 * ([B, K, Tn, D] per layer), which the host writes into its cache buffers (see contextAttention).
 *
 * Dimension letters: B batch, N new tokens (Tn), S cache slots, C width, V vocab, H/K heads, R = H/K, D head width.
 */
import { type LlamaConfig } from '../model/config.ts';
import { type AttendFn, declareParams, decoderStack, embed, lmHead } from '../model/llama.ts';
import type { LoraConfig } from '../model/lora.ts';
import {
  contextAttention,
  expand,
  gatherLast,
  Graph,
  logSoftmax,
  reshape,
  type Tensor,
  toOnnx,
  transpose,
} from '../tensor/index.ts';

export const cacheName = (layer: number, kind: 'k' | 'v') => `cache.${layer}.${kind}`;
export const newKvName = (layer: number, kind: 'k' | 'v') => `new.${layer}.${kind}`;

interface ExtendInputs {
  ids_B_N: Tensor; // int64
  cos_B_N_D: Tensor; // rotary tables at each new token's position
  sin_B_N_D: Tensor;
  cacheBias_B_1_1_S: Tensor; // 0 for filled slots, MASKED for empty ones
  newBias_B_1_RN_N: Tensor; // causal + padding among the new tokens, tiled over the R stacked query heads
  last_B: Tensor; // int64: index of the new token whose next-token distribution is wanted
}

/**
 * Builds the extend graph for B rows, N new tokens, S cache slots. Outputs `logprobs` [B, V] (log-softmax of the
 * next-token logits after token `last` of each row) and `new.<layer>.k|v` [B, K, N, D].
 */
export function buildExtendGraph(cfg: LlamaConfig, B: number, N: number, S: number, lora?: LoraConfig): Uint8Array {
  const g = new Graph(`extend_B${B}_N${N}_S${S}`);
  const { params } = declareParams(g, cfg, { lora });
  const { numHeads: H, numKvHeads: K, headDim: D } = cfg;
  const inputs: ExtendInputs = {
    ids_B_N: g.input('input_ids', [B, N], 'int64'),
    cos_B_N_D: g.input('rope_cos', [B, N, D]),
    sin_B_N_D: g.input('rope_sin', [B, N, D]),
    cacheBias_B_1_1_S: g.input('cache_bias', [B, 1, 1, S]),
    newBias_B_1_RN_N: g.input('new_bias', [B, 1, (H / K) * N, N]),
    last_B: g.input('last_index', [B], 'int64'),
  };
  const outputs: Record<string, Tensor> = {};
  const caches = [...Array(cfg.numLayers).keys()].map((i) => ({
    k: g.input(cacheName(i, 'k'), [B, K, S, D]),
    v: g.input(cacheName(i, 'v'), [B, K, S, D]),
    bias: inputs.cacheBias_B_1_1_S,
  }));
  const attend: AttendFn = (layer, q, k, v) => {
    outputs[newKvName(layer, 'k')] = k;
    outputs[newKvName(layer, 'v')] = v;
    return contextAttention(q, caches[layer], k, v, inputs.newBias_B_1_RN_N);
  };
  const cos = reshape(inputs.cos_B_N_D, [B, 1, N, D]);
  const sin = reshape(inputs.sin_B_N_D, [B, 1, N, D]);
  const x = decoderStack(cfg, params, embed(params, inputs.ids_B_N), cos, sin, attend);
  // pick each row's last new token before the norm and head: [B, N, C] -> [B, C]
  outputs.logprobs = logSoftmax(lmHead(cfg, params, pickRows(x, inputs.last_B)));
  return toOnnx(g, outputs);
}

/** x [B, N, C] at index [B] along N -> [B, C] (gatherLast on [B, C, N] with the index expanded over C). */
function pickRows(x: Tensor, index_B: Tensor): Tensor {
  const [B, , C] = x.shape;
  const idx_B_C = expand(reshape(index_B, [B, 1]), [B, C]);
  return gatherLast(transpose(x, [0, 2, 1]), idx_B_C);
}
