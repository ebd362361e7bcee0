/**
 * Hugging Face `config.json` parsing for Llama-family decoders, and the single declaration of their parameter list.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ModelFormatError } from '../errors.ts';
import { oneLine } from '../util/brief.ts';

/** Architectures this trainer can build. */
export const SUPPORTED_ARCHITECTURES = [
  'LlamaForCausalLM',
  'Qwen2ForCausalLM',
  'MistralForCausalLM',
  'LlamaForSequenceClassification',
] as const;

/** One of {@link SUPPORTED_ARCHITECTURES}. */
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** Normalised model hyper-parameters (HF defaults applied). */
export interface LlamaConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (always for Qwen2; `attention_bias` for Llama; never for Mistral). */
  attentionBias: boolean;
  /** 1 unless sequence classification. */
  numLabels: number;
  bosTokenId?: number;
  eosTokenIds: number[];
  padTokenId?: number;
  maxPositionEmbeddings: number;
  /** Mistral/Qwen2 sliding-window size when the config enables one; attention may ignore it up to this length. */
  slidingWindow?: number;
}

const posInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative().nullish();

const rawSchema = z.object({
  architectures: z.array(z.string()).nullish(),
  model_type: z.string().nullish(),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  rope_theta: z.number().positive().nullish(),
  rms_norm_eps: z.number().positive().nullish(),
  tie_word_embeddings: z.boolean().nullish(),
  attention_bias: z.boolean().nullish(),
  mlp_bias: z.boolean().nullish(),
  num_labels: posInt.nullish(),
  id2label: z.record(z.string(), z.unknown()).nullish(),
  bos_token_id: tokenId,
  eos_token_id: z
    .union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())], {
      error: 'must be a token id or a list of token ids',
    })
    .nullish(),
  pad_token_id: tokenId,
  max_position_embeddings: posInt.nullish(),
  hidden_act: z.string().nullish(),
  rope_scaling: z.unknown().optional(),
  use_sliding_window: z.boolean().nullish(),
  sliding_window: posInt.nullish(),
});

type RawConfig = z.infer<typeof rawSchema>;

/** HF's default max_position_embeddings per architecture. */
const DEFAULT_MAX_POSITIONS: Record<Architecture, number> = {
  LlamaForCausalLM: 2048,
  LlamaForSequenceClassification: 2048,
  Qwen2ForCausalLM: 32768,
  MistralForCausalLM: 4096 * 32,
};

const MODEL_TYPE_ARCH: Record<string, Architecture> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  mistral: 'MistralForCausalLM',
};

function fieldError(file: string, field: string, msg: string): ModelFormatError {
  return new ModelFormatError(`${file}: field \`${field}\`: ${msg}`);
}

function valueAt(json: unknown, keys: PropertyKey[]): unknown {
  let v = json;
  for (const k of keys) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Turns the first zod issue into a message naming the file and the field. */
function zodToModelError(file: string, json: unknown, err: z.ZodError): ModelFormatError {
  const issue = err.issues[0];
  const field = issue.path.map(String).join('.');
  if (issue.path.length === 1 && valueAt(json, issue.path) === undefined) {
    return new ModelFormatError(`${file}: missing field \`${field}\``);
  }
  const got = JSON.stringify(valueAt(json, issue.path));
  return fieldError(file, field, `${issue.message} (got ${got})`);
}

function resolveArchitecture(raw: RawConfig, file: string): Architecture {
  const listed = raw.architectures ?? [];
  if (listed.length === 0) {
    const fromType = raw.model_type ? MODEL_TYPE_ARCH[raw.model_type] : undefined;
    if (fromType) return fromType;
    throw new ModelFormatError(`${file}: missing field \`architectures\` (and no known \`model_type\`)`);
  }
  const arch = listed[0];
  if (listed.length > 1 || !(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    const want = SUPPORTED_ARCHITECTURES.join(', ');
    throw fieldError(file, 'architectures', `unsupported ${JSON.stringify(listed)}; supported: ${want}`);
  }
  return arch as Architecture;
}

/** Rejects features the engine does not implement yet. */
function checkUnsupported(raw: RawConfig, file: string): void {
  if (raw.hidden_act != null && raw.hidden_act !== 'silu') {
    throw fieldError(file, 'hidden_act', `must be "silu", got ${JSON.stringify(raw.hidden_act)}`);
  }
  if (raw.rope_scaling != null) {
    const rs = raw.rope_scaling as Record<string, unknown>;
    const kind = JSON.stringify(rs.rope_type ?? rs.type ?? rs);
    throw fieldError(file, 'rope_scaling', `rope_scaling is not supported yet (got type ${kind})`);
  }
  if (raw.mlp_bias) throw fieldError(file, 'mlp_bias', 'MLP biases are not supported yet');
}

function resolveHeads(raw: RawConfig, file: string): { numKvHeads: number; headDim: number } {
  const numKvHeads = raw.num_key_value_heads ?? raw.num_attention_heads;
  if (raw.num_attention_heads % numKvHeads !== 0) {
    throw fieldError(
      file,
      'num_key_value_heads',
      `num_attention_heads (${raw.num_attention_heads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  if (raw.head_dim != null) return { numKvHeads, headDim: raw.head_dim };
  if (raw.hidden_size % raw.num_attention_heads !== 0) {
    throw fieldError(
      file,
      'hidden_size',
      `hidden_size (${raw.hidden_size}) is not divisible by num_attention_heads (${raw.num_attention_heads}) and no head_dim is given`,
    );
  }
  return { numKvHeads, headDim: raw.hidden_size / raw.num_attention_heads };
}

function resolveNumLabels(raw: RawConfig, arch: Architecture): number {
  if (arch !== 'LlamaForSequenceClassification') return 1;
  if (raw.num_labels != null) return raw.num_labels;
  const fromIds = raw.id2label ? Object.keys(raw.id2label).length : 0;
  return fromIds > 0 ? fromIds : 2; // HF PretrainedConfig default
}

function resolveSlidingWindow(raw: RawConfig, arch: Architecture): number | undefined {
  if (raw.sliding_window == null) return undefined;
  if (arch === 'MistralForCausalLM') return raw.sliding_window;
  if (arch === 'Qwen2ForCausalLM' && raw.use_sliding_window) return raw.sliding_window;
  return undefined;
}

/** Validates a parsed `config.json` (already JSON-decoded) and applies HF defaults; `file` is used in errors. */
export function parseModelConfig(json: unknown, file: string): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFormatError(`${file}: not a JSON object`);
  }
  const parsed = rawSchema.safeParse(json);
  if (!parsed.success) throw zodToModelError(file, json, parsed.error);
  const raw = parsed.data;
  const architecture = resolveArchitecture(raw, file);
  checkUnsupported(raw, file);
  const { numKvHeads, headDim } = resolveHeads(raw, file);
  const eos = raw.eos_token_id;
  const cfg: LlamaConfig = {
    architecture,
    vocabSize: raw.vocab_size,
    hiddenSize: raw.hidden_size,
    intermediateSize: raw.intermediate_size,
    numLayers: raw.num_hidden_layers,
    numHeads: raw.num_attention_heads,
    numKvHeads,
    headDim,
    ropeTheta: raw.rope_theta ?? 10000,
    rmsNormEps: raw.rms_norm_eps ?? 1e-6,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    attentionBias: architecture === 'Qwen2ForCausalLM' || (architecture !== 'MistralForCausalLM' && !!raw.attention_bias),
    numLabels: resolveNumLabels(raw, architecture),
    eosTokenIds: eos == null ? [] : Array.isArray(eos) ? [...eos] : [eos],
    maxPositionEmbeddings: raw.max_position_embeddings ?? DEFAULT_MAX_POSITIONS[architecture],
  };
  if (raw.bos_token_id != null) cfg.bosTokenId = raw.bos_token_id;
  if (raw.pad_token_id != null) cfg.padTokenId = raw.pad_token_id;
  const slidingWindow = resolveSlidingWindow(raw, architecture);
  if (slidingWindow !== undefined) cfg.slidingWindow = slidingWindow;
  return cfg;
}

/** Reads and parses `<dir>/config.json`. */
export function loadModelConfig(dir: string): LlamaConfig {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${file}: invalid JSON (${oneLine((e as Error).message)})`);
  }
  return parseModelConfig(json, file);
}

/** True when `self_attn.o_proj` carries a bias: only Llama-family models with `attention_bias` (never Qwen2/Mistral). */
export function hasOutputProjBias(cfg: LlamaConfig): boolean {
  return cfg.attentionBias && (cfg.architecture === 'LlamaForCausalLM' || cfg.architecture === 'LlamaForSequenceClassification');
}

/**
 * The HF parameter names and shapes of the model, in order: embedding, layers 0..L-1, final norm, head.
 * This map is THE declaration of the parameter list; other code derives from it.
 */
export function expectedParamShapes(cfg: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: c, vocabSize: v, intermediateSize: inter, headDim: d } = cfg;
  const qDim = cfg.numHeads * d;
  const kvDim = cfg.numKvHeads * d;
  const oBias = hasOutputProjBias(cfg);
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [v, c]);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.input_layernorm.weight`, [c]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [qDim, c]);
    if (cfg.attentionBias) shapes.set(`${p}.self_attn.q_proj.bias`, [qDim]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [kvDim, c]);
    if (cfg.attentionBias) shapes.set(`${p}.self_attn.k_proj.bias`, [kvDim]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [kvDim, c]);
    if (cfg.attentionBias) shapes.set(`${p}.self_attn.v_proj.bias`, [kvDim]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [c, qDim]);
    if (oBias) shapes.set(`${p}.self_attn.o_proj.bias`, [c]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [c]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [inter, c]);
    shapes.set(`${p}.mlp.up_proj.weight`, [inter, c]);
    shapes.set(`${p}.mlp.down_proj.weight`, [c, inter]);
  }
  shapes.set('model.norm.weight', [c]);
  if (cfg.architecture === 'LlamaForSequenceClassification') shapes.set('score.weight', [cfg.numLabels, c]);
  else if (!cfg.tieWordEmbeddings) shapes.set('lm_head.weight', [v, c]);
  return shapes;
}
