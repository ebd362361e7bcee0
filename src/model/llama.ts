/**
 * The Llama-family decoder (Llama, Qwen2, Mistral) as a function that records its forward pass into a graph.
 * Parameters are graph inputs named exactly as in HF checkpoints, declared from `expectedParamShapes`.
 *
 * Dimension letters: B batch, T sequence, C hidden width, V vocab, H query heads, K key/value heads, D head width.
 */
import {
  add,
  causalBias,
  embedding,
  type Graph,
  groupedAttention,
  linear,
  matmul,
  paddingBias,
  reshape,
  rmsNorm,
  mul,
  rope,
  ropeTables,
  silu,
  type Tensor,
  transpose,
} from '../tensor/index.ts';
import { expectedParamShapes, type LlamaConfig } from './config.ts';
import { headLogprobs } from './lm-head.ts';
import { adapterNames, type LoraConfig, loraScale, loraTargetWeights } from './lora.ts';

/**
 * The model's weights as graph values, by HF name. With LoRA the adapters are entries too (`...lora_A.weight`,
 * `...lora_B.weight`) and `loraScale` is alpha / r: a target projection computes x W^T + s (x A^T) B^T, never
 * the merged W + s B A (that would cost an [out, in] GEMM and add per forward, and, in a train graph, the full
 * gradient of W, which LoRA does not need).
 */
export class Params extends Map<string, Tensor> {
  loraScale = 0;
}

export interface DeclareOptions {
  /** Which base parameters get gradients (ignored with LoRA: then only adapters train). Default: none. */
  trainable?: (name: string) => boolean;
  lora?: LoraConfig;
}

/**
 * Declares every parameter (and LoRA adapter) as a graph input. Returns the values the model uses and the
 * inputs that get gradients, by name.
 */
export function declareParams(g: Graph, cfg: LlamaConfig, opts: DeclareOptions = {}): { params: Params; trained: Params } {
  const params = new Params();
  const trained = new Params();
  const selectBase = opts.lora ? () => false : (opts.trainable ?? (() => false));
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const t = g.input(name, shape, g.float, selectBase(name));
    params.set(name, t);
    if (t.requiresGrad) trained.set(name, t);
  }
  if (!opts.lora) return { params, trained };
  params.loraScale = loraScale(opts.lora);
  for (const name of loraTargetWeights(cfg, opts.lora).keys()) {
    const names = adapterNames(name);
    const a = g.input(names.a, [opts.lora.rank, params.get(name)!.shape[1]], g.float, true);
    const b = g.input(names.b, [params.get(name)!.shape[0], opts.lora.rank], g.float, true);
    trained.set(names.a, a).set(names.b, b);
    params.set(names.a, a).set(names.b, b);
  }
  return { params, trained };
}

/**
 * The Linear layer `module` (`<module>.weight` [out, in], optional `.bias`) on x [..., in], with its LoRA
 * adapter when it has one: x W^T + b + s (x A^T) B^T.
 */
export function projection(params: Params, module: string, x: Tensor): Tensor {
  const y = linear(x, param(params, `${module}.weight`), params.get(`${module}.bias`));
  const { a, b } = adapterNames(`${module}.weight`);
  const A = params.get(a);
  if (!A) return y;
  const x2 = reshape(x, [-1, x.shape[x.rank - 1]]);
  const low = matmul(x2, A, { transB: true }); // [N, r]
  const update = matmul(low, param(params, b), { transB: true, alpha: params.loraScale }); // [N, out]
  return add(y, reshape(update, y.shape));
}

function param(params: Params, name: string): Tensor {
  const t = params.get(name);
  if (!t) throw new Error(`llama: parameter ${name} was not declared`);
  return t;
}

/** Inputs of one forward pass. */
export interface ForwardInputs {
  ids_B_T: Tensor; // int64 token ids
  mask_B_T: Tensor; // float, 1 = real token, 0 = padding
  /** Position of each column (shared by every row); default 0..T-1 (right padding). */
  positions?: readonly number[];
}

/** One layer's attention given its rotated queries, keys and values: the caller decides what context they see. */
export type AttendFn = (layer: number, q_B_H_T_D: Tensor, k_B_K_T_D: Tensor, v_B_K_T_D: Tensor) => Tensor;

/** Rotary tables for `positions` as graph constants [T, D]. */
export function ropeConstants(g: Graph, cfg: LlamaConfig, positions: readonly number[]): { cos: Tensor; sin: Tensor } {
  const { cos, sin } = ropeTables(positions, cfg.headDim, cfg.ropeTheta);
  const dims = [positions.length, cfg.headDim];
  const typed = (a: Float64Array) => (g.float === 'float32' ? Float32Array.from(a) : a);
  return { cos: g.constant(typed(cos), dims), sin: g.constant(typed(sin), dims) };
}

/**
 * The decoder stack on embedded tokens x [B, T, C]: pre-norm attention and SwiGLU blocks with residuals, then the
 * final norm. `cos`/`sin` broadcast to [B, heads, T, D]; `attend` computes each layer's attention.
 */
export function decoderStack(cfg: LlamaConfig, params: Params, x_B_T_C: Tensor, cos: Tensor, sin: Tensor, attend: AttendFn): Tensor {
  const [B, T] = x_B_T_C.shape;
  const { numHeads: H, numKvHeads: K, headDim: D } = cfg;
  const heads = (x: Tensor, n: number) => transpose(reshape(x, [B, T, n, D]), [0, 2, 1, 3]); // [B, n, T, D]
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = (n: string) => param(params, `model.layers.${i}.${n}`);
    const proj = (n: string, h: Tensor) => projection(params, `model.layers.${i}.self_attn.${n}`, h);
    const mlp = (n: string, h: Tensor) => projection(params, `model.layers.${i}.mlp.${n}`, h);
    const h = rmsNorm(x_B_T_C, p('input_layernorm.weight'), cfg.rmsNormEps);
    const q_B_H_T_D = rope(heads(proj('q_proj', h), H), cos, sin);
    const k_B_K_T_D = rope(heads(proj('k_proj', h), K), cos, sin);
    const o_B_H_T_D = attend(i, q_B_H_T_D, k_B_K_T_D, heads(proj('v_proj', h), K));
    x_B_T_C = add(x_B_T_C, proj('o_proj', reshape(transpose(o_B_H_T_D, [0, 2, 1, 3]), [B, T, H * D])));
    const h2 = rmsNorm(x_B_T_C, p('post_attention_layernorm.weight'), cfg.rmsNormEps);
    x_B_T_C = add(x_B_T_C, mlp('down_proj', mul(silu(mlp('gate_proj', h2)), mlp('up_proj', h2)))); // SwiGLU
  }
  return rmsNorm(x_B_T_C, param(params, 'model.norm.weight'), cfg.rmsNormEps);
}

/** Token embeddings [..., C] of int64 ids [...]. */
export function embed(params: Params, ids: Tensor): Tensor {
  return embedding(param(params, 'model.embed_tokens.weight'), ids);
}

/** Final hidden states [B, T, C] of right-padded rows (causal attention plus key padding). */
export function llamaHidden(g: Graph, cfg: LlamaConfig, params: Params, inputs: ForwardInputs): Tensor {
  const T = inputs.ids_B_T.shape[1];
  const { cos, sin } = ropeConstants(g, cfg, inputs.positions ?? [...Array(T).keys()]);
  // one additive bias shared by every layer: causal (per stacked query group) + key padding
  const bias = add(causalBias(g, cfg.numHeads / cfg.numKvHeads, T), paddingBias(inputs.mask_B_T));
  const attend: AttendFn = (_layer, q, k, v) => groupedAttention(q, k, v, bias);
  return decoderStack(cfg, params, embed(params, inputs.ids_B_T), cos, sin, attend);
}

function headWeight(cfg: LlamaConfig, params: Params): Tensor {
  return cfg.tieWordEmbeddings ? param(params, 'model.embed_tokens.weight') : param(params, 'lm_head.weight');
}

/** Output head: logits [..., V] from hidden states [..., C] (tied heads reuse the embedding). */
export function lmHead(cfg: LlamaConfig, params: Params, hidden: Tensor): Tensor {
  return linear(hidden, headWeight(cfg, params));
}

/** log p(targets) [...] from hidden states [..., C], without keeping the logits [..., V] whole (lm-head.ts). */
export function headTokenLogprobs(cfg: LlamaConfig, params: Params, hidden: Tensor, targets: Tensor): Tensor {
  return headLogprobs(hidden, headWeight(cfg, params), targets);
}
