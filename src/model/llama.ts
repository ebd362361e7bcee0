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
  rope,
  ropeTables,
  swiglu,
  type Tensor,
  transpose,
} from '../tensor/index.ts';
import { expectedParamShapes, type LlamaConfig } from './config.ts';
import { adapterNames, type LoraConfig, loraScale, loraTargetWeights } from './lora.ts';

/** The model's weights as graph values, by HF name (with LoRA, a target's entry is its merged weight). */
export type Params = Map<string, Tensor>;

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
  const params: Params = new Map();
  const trained: Params = new Map();
  const selectBase = opts.lora ? () => false : (opts.trainable ?? (() => false));
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const t = g.input(name, shape, g.float, selectBase(name));
    params.set(name, t);
    if (t.requiresGrad) trained.set(name, t);
  }
  if (!opts.lora) return { params, trained };
  const scale = loraScale(opts.lora);
  for (const name of loraTargetWeights(cfg, opts.lora).keys()) {
    const names = adapterNames(name);
    const a = g.input(names.a, [opts.lora.rank, params.get(name)!.shape[1]], g.float, true);
    const b = g.input(names.b, [params.get(name)!.shape[0], opts.lora.rank], g.float, true);
    trained.set(names.a, a).set(names.b, b);
    params.set(name, add(params.get(name)!, matmul(b, a, { alpha: scale }))); // W + (alpha / r) B A
  }
  return { params, trained };
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

/** Final hidden states [B, T, C] after the last norm. */
export function llamaHidden(g: Graph, cfg: LlamaConfig, params: Params, inputs: ForwardInputs): Tensor {
  const T = inputs.ids_B_T.shape[1];
  const D = cfg.headDim;
  const positions = inputs.positions ?? [...Array(T).keys()];
  const tables = ropeTables(positions, D, cfg.ropeTheta);
  const cos_T_D = g.constant(g.float === 'float32' ? Float32Array.from(tables.cos) : tables.cos, [T, D]);
  const sin_T_D = g.constant(g.float === 'float32' ? Float32Array.from(tables.sin) : tables.sin, [T, D]);
  // one additive bias shared by every layer: causal (per stacked query group) + key padding
  const bias = add(causalBias(g, cfg.numHeads / cfg.numKvHeads, T), paddingBias(inputs.mask_B_T));
  let x_B_T_C = embedding(param(params, 'model.embed_tokens.weight'), inputs.ids_B_T);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = (n: string) => param(params, `model.layers.${i}.${n}`);
    const h = rmsNorm(x_B_T_C, p('input_layernorm.weight'), cfg.rmsNormEps);
    const attn = attentionBlock(cfg, params, `model.layers.${i}.self_attn`, h, cos_T_D, sin_T_D, bias);
    x_B_T_C = add(x_B_T_C, attn);
    const h2 = rmsNorm(x_B_T_C, p('post_attention_layernorm.weight'), cfg.rmsNormEps);
    x_B_T_C = add(x_B_T_C, swiglu(h2, p('mlp.gate_proj.weight'), p('mlp.up_proj.weight'), p('mlp.down_proj.weight')));
  }
  return rmsNorm(x_B_T_C, param(params, 'model.norm.weight'), cfg.rmsNormEps);
}

function attentionBlock(
  cfg: LlamaConfig,
  params: Params,
  prefix: string,
  h_B_T_C: Tensor,
  cos: Tensor,
  sin: Tensor,
  bias: Tensor,
): Tensor {
  const [B, T] = h_B_T_C.shape;
  const { numHeads: H, numKvHeads: K, headDim: D } = cfg;
  const proj = (name: string) => linear(h_B_T_C, param(params, `${prefix}.${name}.weight`), params.get(`${prefix}.${name}.bias`));
  const heads = (x: Tensor, n: number) => transpose(reshape(x, [B, T, n, D]), [0, 2, 1, 3]); // [B, n, T, D]
  const q_B_H_T_D = rope(heads(proj('q_proj'), H), cos, sin);
  const k_B_K_T_D = rope(heads(proj('k_proj'), K), cos, sin);
  const v_B_K_T_D = heads(proj('v_proj'), K);
  const o_B_H_T_D = groupedAttention(q_B_H_T_D, k_B_K_T_D, v_B_K_T_D, bias);
  const o_B_T_HD = reshape(transpose(o_B_H_T_D, [0, 2, 1, 3]), [B, T, H * D]);
  return linear(o_B_T_HD, param(params, `${prefix}.o_proj.weight`), params.get(`${prefix}.o_proj.bias`));
}

/** Output head: logits [..., V] from hidden states [..., C] (tied heads reuse the embedding). */
export function lmHead(cfg: LlamaConfig, params: Params, hidden: Tensor): Tensor {
  const weight = cfg.tieWordEmbeddings ? param(params, 'model.embed_tokens.weight') : param(params, 'lm_head.weight');
  return linear(hidden, weight);
}
