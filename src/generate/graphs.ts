/**
 * The generation graph: "extend" a batch of sequences by Tn new tokens each, given a fixed-capacity key/value
 * cache of S slots. Prefill is extend with an empty (fully masked) cache; decode is extend with Tn = 1.
 *
 * The graph reads the cache but never copies or grows it: it returns only the new tokens' keys and values
 * ([B, K, Tn, D] per layer), which the host writes into its cache buffers (see contextAttention).
 *
 * With a shared prefix (P slots, e.g. the judge's Box 3 text before the instruction), its keys and values are a
 * separate one-row context [1, K, P, D] that every row attends to (broadcast, read once per step instead of once
 * per row); the rows' caches hold only what follows it. One softmax spans prefix, cache and new tokens.
 *
 * Dimension letters: B batch, N new tokens (Tn), S cache slots, P prefix slots, C width, V vocab, H/K heads,
 * R = H/K, D head width.
 */
import { type LlamaConfig } from '../model/config.ts';
import { type AttendFn, declareParams, decoderStack, embed, lmHead } from '../model/llama.ts';
import type { LoraConfig } from '../model/lora.ts';
import {
  add,
  concat,
  contextAttention,
  expand,
  gatherLast,
  Graph,
  logSoftmax,
  matmul,
  reshape,
  slice,
  softmax,
  type Tensor,
  toOnnx,
  transpose,
} from '../tensor/index.ts';

export const cacheName = (layer: number, kind: 'k' | 'v') => `cache.${layer}.${kind}`;
export const prefixName = (layer: number, kind: 'k' | 'v') => `prefix.${layer}.${kind}`;
export const PREFIX_BIAS = 'prefix_bias'; // [1, 1, 1, P]: 0 for the prefix's filled slots, MASKED after
export const newKvName = (layer: number, kind: 'k' | 'v') => `new.${layer}.${kind}`;

interface ExtendInputs {
  ids_B_N: Tensor; // int64
  cos_B_N_D: Tensor; // rotary tables at each new token's position
  sin_B_N_D: Tensor;
  cacheBias_B_1_1_S: Tensor | null; // 0 for filled slots, MASKED for empty ones (null: no cache, S = 0)
  newBias_B_1_RN_N: Tensor; // causal + padding among the new tokens, tiled over the R stacked query heads
  last_B: Tensor; // int64: index of the new token whose next-token distribution is wanted
}

/**
 * Builds the extend graph for B rows, N new tokens, S cache slots (0: the rows have no cache yet, as in a prompt's
 * prefill, so no empty slots are attended to), P shared-prefix slots (0: none). Outputs `logprobs` [B, V] (log-softmax of the
 * next-token logits after token `last` of each row) and `new.<layer>.k|v` [B, K, N, D].
 */
export function buildExtendGraph(cfg: LlamaConfig, B: number, N: number, S: number, lora?: LoraConfig, P = 0): Uint8Array {
  const g = new Graph(`extend_B${B}_N${N}_S${S}_P${P}`);
  const { params } = declareParams(g, cfg, { lora });
  const { numHeads: H, numKvHeads: K, headDim: D } = cfg;
  const inputs: ExtendInputs = {
    ids_B_N: g.input('input_ids', [B, N], 'int64'),
    cos_B_N_D: g.input('rope_cos', [B, N, D]),
    sin_B_N_D: g.input('rope_sin', [B, N, D]),
    cacheBias_B_1_1_S: S > 0 ? g.input('cache_bias', [B, 1, 1, S]) : null,
    newBias_B_1_RN_N: g.input('new_bias', [B, 1, (H / K) * N, N]),
    last_B: g.input('last_index', [B], 'int64'),
  };
  const outputs: Record<string, Tensor> = {};
  const caches = [...Array(S > 0 ? cfg.numLayers : 0).keys()].map((i) => ({
    k: g.input(cacheName(i, 'k'), [B, K, S, D]),
    v: g.input(cacheName(i, 'v'), [B, K, S, D]),
    bias: inputs.cacheBias_B_1_1_S!,
  }));
  const prefixBias = P > 0 ? g.input(PREFIX_BIAS, [1, 1, 1, P]) : null;
  const prefixes = [...Array(P > 0 ? cfg.numLayers : 0).keys()].map((i) => ({
    k: g.input(prefixName(i, 'k'), [1, K, P, D]),
    v: g.input(prefixName(i, 'v'), [1, K, P, D]),
    bias: prefixBias!,
  }));
  const attend: AttendFn = (layer, q, k, v) => {
    outputs[newKvName(layer, 'k')] = k;
    outputs[newKvName(layer, 'v')] = v;
    if (P === 0 && S > 0) return contextAttention(q, caches[layer], k, v, inputs.newBias_B_1_RN_N);
    return attendContexts(q, [...prefixes.slice(layer, layer + 1), ...caches.slice(layer, layer + 1), { k, v, bias: inputs.newBias_B_1_RN_N }]);
  };
  const cos = reshape(inputs.cos_B_N_D, [B, 1, N, D]);
  const sin = reshape(inputs.sin_B_N_D, [B, 1, N, D]);
  const x = decoderStack(cfg, params, embed(params, inputs.ids_B_N), cos, sin, attend);
  // pick each row's last new token before the norm and head: [B, N, C] -> [B, C]
  outputs.logprobs = logSoftmax(lmHead(cfg, params, pickRows(x, inputs.last_B)));
  return toOnnx(g, outputs);
}

/**
 * Grouped-query attention of q [B, H, N, D] over several contexts joined by one softmax; context i has keys and
 * values [B or 1, K, S_i, D] (1 broadcasts over rows) and an additive bias broadcastable to [B, K, R*N, S_i].
 */
function attendContexts(q: Tensor, contexts: { k: Tensor; v: Tensor; bias: Tensor }[]): Tensor {
  const [B, H, N, D] = q.shape;
  const K = contexts[0].k.shape[1];
  const q_B_K_RN_D = reshape(q, [B, K, (H / K) * N, D]);
  const scores = contexts.map((c) => add(matmul(q_B_K_RN_D, c.k, { transB: true, alpha: 1 / Math.sqrt(D) }), c.bias));
  const probs = softmax(concat(scores, -1));
  let start = 0;
  const parts = contexts.map((c) => {
    const S = c.k.shape[2];
    const part = matmul(slice(probs, -1, start, start + S), c.v);
    start += S;
    return part;
  });
  return reshape(parts.reduce((a, b) => add(a, b)), [B, H, N, D]);
}

/** x [B, N, C] at index [B] along N -> [B, C] (gatherLast on [B, C, N] with the index expanded over C). */
function pickRows(x: Tensor, index_B: Tensor): Tensor {
  const [B, , C] = x.shape;
  const idx_B_C = expand(reshape(index_B, [B, 1]), [B, C]);
  return gatherLast(transpose(x, [0, 2, 1]), idx_B_C);
}
