/**
 * The generation graph: "extend" a batch of sequences by Tn new tokens each, given a fixed-capacity key/value
 * cache of S slots. Prefill is extend with an empty (fully masked) cache; decode is extend with Tn = 1.
 *
 * The graph reads the cache but never copies or grows it: it returns only the new tokens' keys and values
 * ([B, K, Tn, D] per layer), which the host writes into its cache buffers. Attention scores against the cache and
 * against the new tokens are computed separately and joined by one softmax.
 *
 * Dimension letters: B batch, N new tokens (Tn), S cache slots, C width, V vocab, H/K heads, R = H/K, D head width.
 */
import { type LlamaConfig } from '../model/config.ts';
import { declareParams, lmHead, type Params } from '../model/llama.ts';
import type { LoraConfig } from '../model/lora.ts';
import {
  add,
  concat,
  embedding,
  expand,
  gatherLast,
  Graph,
  linear,
  logSoftmax,
  matmul,
  mul,
  neg,
  reshape,
  rmsNorm,
  slice,
  softmax,
  swiglu,
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

/** Rotary embedding with per-row tables: x [B, n, N, D], cos/sin [B, N, D]. */
function ropeRows(x: Tensor, cos_B_N_D: Tensor, sin_B_N_D: Tensor): Tensor {
  const [B, , N, D] = x.shape;
  const cos = reshape(cos_B_N_D, [B, 1, N, D]);
  const sin = reshape(sin_B_N_D, [B, 1, N, D]);
  const rotated = concat([neg(slice(x, -1, D / 2, D)), slice(x, -1, 0, D / 2)], -1);
  return add(mul(x, cos), mul(rotated, sin));
}

function cachedAttention(
  cfg: LlamaConfig,
  params: Params,
  layer: number,
  h_B_N_C: Tensor,
  inputs: ExtendInputs,
  cache: { k: Tensor; v: Tensor },
): { out: Tensor; k: Tensor; v: Tensor } {
  const [B, N] = h_B_N_C.shape;
  const { numHeads: H, numKvHeads: K, headDim: D } = cfg;
  const R = H / K;
  const prefix = `model.layers.${layer}.self_attn`;
  const proj = (n: string) => linear(h_B_N_C, params.get(`${prefix}.${n}.weight`)!, params.get(`${prefix}.${n}.bias`));
  const heads = (x: Tensor, n: number) => transpose(reshape(x, [B, N, n, D]), [0, 2, 1, 3]); // [B, n, N, D]
  const q = ropeRows(heads(proj('q_proj'), H), inputs.cos_B_N_D, inputs.sin_B_N_D);
  const k = ropeRows(heads(proj('k_proj'), K), inputs.cos_B_N_D, inputs.sin_B_N_D);
  const v = heads(proj('v_proj'), K);
  const q_B_K_RN_D = reshape(q, [B, K, R * N, D]);
  const alpha = 1 / Math.sqrt(D);
  const scoresCache = add(matmul(q_B_K_RN_D, cache.k, { transB: true, alpha }), inputs.cacheBias_B_1_1_S);
  const scoresNew = add(matmul(q_B_K_RN_D, k, { transB: true, alpha }), inputs.newBias_B_1_RN_N);
  const S = cache.k.shape[2];
  const probs = softmax(concat([scoresCache, scoresNew], -1)); // [B, K, R*N, S+N]
  const mixed = add(matmul(slice(probs, -1, 0, S), cache.v), matmul(slice(probs, -1, S, S + N), v));
  const o = reshape(transpose(reshape(mixed, [B, H, N, D]), [0, 2, 1, 3]), [B, N, H * D]);
  return { out: linear(o, params.get(`${prefix}.o_proj.weight`)!, params.get(`${prefix}.o_proj.bias`)), k, v };
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
  let x = embedding(params.get('model.embed_tokens.weight')!, inputs.ids_B_N);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = (n: string) => params.get(`model.layers.${i}.${n}`)!;
    const cache = { k: g.input(cacheName(i, 'k'), [B, K, S, D]), v: g.input(cacheName(i, 'v'), [B, K, S, D]) };
    const attn = cachedAttention(cfg, params, i, rmsNorm(x, p('input_layernorm.weight'), cfg.rmsNormEps), inputs, cache);
    outputs[newKvName(i, 'k')] = attn.k;
    outputs[newKvName(i, 'v')] = attn.v;
    x = add(x, attn.out);
    const h = rmsNorm(x, p('post_attention_layernorm.weight'), cfg.rmsNormEps);
    x = add(x, swiglu(h, p('mlp.gate_proj.weight'), p('mlp.up_proj.weight'), p('mlp.down_proj.weight')));
  }
  // pick each row's last new token before the norm and head: [B, N, C] -> [B, C]
  const picked = pickRows(x, inputs.last_B);
  const hidden = rmsNorm(picked, params.get('model.norm.weight')!, cfg.rmsNormEps);
  outputs.logprobs = logSoftmax(lmHead(cfg, params, hidden));
  return toOnnx(g, outputs);
}

/** x [B, N, C] at index [B] along N -> [B, C] (gatherLast on [B, C, N] with the index expanded over C). */
function pickRows(x: Tensor, index_B: Tensor): Tensor {
  const [B, , C] = x.shape;
  const idx_B_C = expand(reshape(index_B, [B, 1]), [B, C]);
  return gatherLast(transpose(x, [0, 2, 1]), idx_B_C);
}
