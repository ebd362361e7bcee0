/**
 * Writing an HF model folder: config.json, model.safetensors (or HF-sharded model-0000X-of-0000Y.safetensors with
 * model.safetensors.index.json), tokenizer files and generation_config.json. The whole folder is written under a
 * temporary name beside `dir` and renamed into place, so readers see the old folder or the new one, never a mix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { expectedParamShapes, parseModelConfig, type LlamaConfig } from './config.ts';
import { writeSafetensors, type StWritable } from './safetensors.ts';
import { saveFolderAtomic } from '../util/fs.ts';

/** Storage dtype of the weights; computation is always f32. */
export type SaveDtype = 'float32' | 'bfloat16' | 'float16';

export interface SaveModelOptions {
  /** The HF config.json object (the original one, or {@link hfConfigFromLlamaConfig}); `torch_dtype` is updated. */
  config: Record<string, unknown>;
  /** Every parameter of the model by HF name, exactly the list {@link expectedParamShapes} declares. */
  weights: Map<string, Float32Array>;
  /** Default float32 (bit-exact); bfloat16 halves the size, rounding to nearest-even. */
  dtype?: SaveDtype;
  /** Folder whose tokenizer files (tokenizer.json, tokenizer_config.json, chat_template.jinja...) are copied. */
  tokenizerFrom?: string;
  /** generation_config.json contents; default: the one in `tokenizerFrom`, else bos/eos/pad ids from `config`. */
  generationConfig?: Record<string, unknown>;
  /** Split the weights into shards of at most this many bytes (a larger single tensor gets a shard of its own). */
  maxShardBytes?: number;
  /** Writes more files into the temporary folder before it is renamed into place (checkpoints: optimizer state). */
  extraFiles?: (tmpDir: string) => void;
}

/** Files copied from `tokenizerFrom` when present. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
] as const;

const SAFETENSORS_DTYPE = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' } as const;
const BYTES_PER_ELEMENT = { float32: 4, bfloat16: 2, float16: 2 } as const;
const INDEX_FILE = 'model.safetensors.index.json';

const MODEL_TYPE: Record<LlamaConfig['architecture'], string> = {
  LlamaForCausalLM: 'llama',
  LlamaForSequenceClassification: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  MistralForCausalLM: 'mistral',
};

/** An HF config.json object for `cfg` that {@link parseModelConfig} reads back to the same LlamaConfig. */
export function hfConfigFromLlamaConfig(cfg: LlamaConfig): Record<string, unknown> {
  const eos = cfg.eosTokenIds.length === 0 ? null : cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : [...cfg.eosTokenIds];
  const out: Record<string, unknown> = {
    architectures: [cfg.architecture],
    model_type: MODEL_TYPE[cfg.architecture],
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    bos_token_id: cfg.bosTokenId ?? null,
    eos_token_id: eos,
    attention_dropout: 0.0,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: 'float32',
  };
  if (cfg.padTokenId !== undefined) out.pad_token_id = cfg.padTokenId;
  if (cfg.architecture === 'Qwen2ForCausalLM') {
    out.use_sliding_window = cfg.slidingWindow !== undefined;
    out.sliding_window = cfg.slidingWindow ?? null;
    out.max_window_layers = cfg.numLayers;
  } else if (cfg.architecture === 'MistralForCausalLM') {
    out.sliding_window = cfg.slidingWindow ?? null;
  } else {
    out.attention_bias = cfg.attentionBias;
    out.mlp_bias = false;
  }
  if (cfg.architecture === 'LlamaForSequenceClassification') {
    const labels = Array.from({ length: cfg.numLabels }, (_, i) => `LABEL_${i}`);
    out.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    out.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  return out;
}

/** Checks names and element counts against the config before anything is written; returns name -> shape in order. */
function checkWeights(cfg: LlamaConfig, weights: Map<string, Float32Array>, file: string): Map<string, number[]> {
  const expected = expectedParamShapes(cfg);
  for (const name of weights.keys()) {
    if (!expected.has(name)) throw new ModelFormatError(`${file}: tensor "${name}": not a parameter of this ${cfg.architecture}`);
  }
  for (const [name, shape] of expected) {
    if (!weights.has(name)) throw new ModelFormatError(`${file}: tensor "${name}": missing (expected shape [${shape.join(', ')}])`);
  }
  return expected;
}

/** Groups parameter names into shards of at most `maxBytes` (in parameter order, as HF's save does). */
function planShards(shapes: Map<string, number[]>, bytesPerElement: number, maxBytes?: number): string[][] {
  const all = [...shapes.keys()];
  if (maxBytes === undefined) return [all];
  const shards: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const name of all) {
    const bytes = shapes.get(name)!.reduce((a, b) => a * b, 1) * bytesPerElement;
    if (current.length > 0 && size + bytes > maxBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(name);
    size += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

const shardName = (i: number, n: number) =>
  `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/** Writes the weight files into `dir` (single file, or shards + index). */
function writeWeights(dir: string, opts: SaveModelOptions, shapes: Map<string, number[]>): void {
  const dtype = opts.dtype ?? 'float32';
  const shards = planShards(shapes, BYTES_PER_ELEMENT[dtype], opts.maxShardBytes);
  const tensorsOf = (names: string[]) =>
    new Map<string, StWritable>(names.map((n) => [n, { shape: shapes.get(n)!, data: opts.weights.get(n)! }]));
  const stOpts = { dtype: SAFETENSORS_DTYPE[dtype], metadata: { format: 'pt' } };
  if (shards.length === 1) {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensorsOf(shards[0]), stOpts);
    return;
  }
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  shards.forEach((names, i) => {
    const file = shardName(i, shards.length);
    writeSafetensors(path.join(dir, file), tensorsOf(names), stOpts);
    for (const n of names) {
      weightMap[n] = file;
      totalSize += opts.weights.get(n)!.length * BYTES_PER_ELEMENT[dtype];
    }
  });
  writeJson(path.join(dir, INDEX_FILE), { metadata: { total_size: totalSize }, weight_map: weightMap });
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function defaultGenerationConfig(cfg: LlamaConfig, tokenizerFrom?: string): Record<string, unknown> {
  const existing = tokenizerFrom && path.join(tokenizerFrom, 'generation_config.json');
  if (existing && fs.existsSync(existing)) {
    try {
      return JSON.parse(fs.readFileSync(existing, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ModelFormatError(`${existing}: invalid JSON (${(e as Error).message})`);
    }
  }
  const gen: Record<string, unknown> = { _from_model_config: true };
  if (cfg.bosTokenId !== undefined) gen.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenIds.length > 0) gen.eos_token_id = cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : cfg.eosTokenIds;
  if (cfg.padTokenId !== undefined) gen.pad_token_id = cfg.padTokenId;
  return gen;
}

/** Copies the {@link TOKENIZER_FILES} that `from` has into `to` (an existing folder). */
export function copyTokenizerFiles(from: string, to: string): void {
  for (const name of TOKENIZER_FILES) {
    const src = path.join(from, name);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(to, name));
  }
}

/** Everything the folder holds, written into `dir` (an empty temporary folder). */
function writeFolderContents(dir: string, cfg: LlamaConfig, shapes: Map<string, number[]>, opts: SaveModelOptions): void {
  const dtype = opts.dtype ?? 'float32';
  const config: Record<string, unknown> = { ...opts.config, torch_dtype: dtype };
  if ('dtype' in opts.config) config.dtype = dtype; // newer transformers write `dtype` instead of `torch_dtype`
  writeJson(path.join(dir, 'config.json'), config);
  writeJson(path.join(dir, 'generation_config.json'), opts.generationConfig ?? defaultGenerationConfig(cfg, opts.tokenizerFrom));
  if (opts.tokenizerFrom !== undefined) copyTokenizerFiles(opts.tokenizerFrom, dir);
  writeWeights(dir, opts, shapes);
  opts.extraFiles?.(dir);
}

/**
 * Writes an HF model folder at `dir`, atomically: everything goes into `${dir}.tmp-<pid>-<rand>`, then an existing
 * `dir` is moved aside, the new folder renamed in, and the old one deleted. On any error the temporary folder is
 * removed and `dir` is left as it was. Weight names and element counts are checked against `config`.
 */
export function saveModelFolder(dir: string, opts: SaveModelOptions): void {
  const configFile = path.join(dir, 'config.json');
  const cfg = parseModelConfig(opts.config, configFile);
  const shapes = checkWeights(cfg, opts.weights, path.join(dir, 'model.safetensors'));
  if (opts.maxShardBytes !== undefined && !(Number.isSafeInteger(opts.maxShardBytes) && opts.maxShardBytes > 0)) {
    throw new ModelFormatError(`saveModelFolder(${dir}): maxShardBytes must be a positive integer, got ${opts.maxShardBytes}`);
  }
  if (opts.tokenizerFrom !== undefined && !fs.existsSync(path.join(opts.tokenizerFrom, 'tokenizer.json'))) {
    throw new ModelFormatError(`${path.join(opts.tokenizerFrom, 'tokenizer.json')}: tokenizerFrom has no tokenizer.json`);
  }
  saveFolderAtomic(dir, (tmp) => writeModelFiles(tmp, dir, opts));
}

/**
 * Writes the model folder's files into `tmp` (an empty folder that will be renamed to `dir`), after the same checks
 * as {@link saveModelFolder}; errors name `dir`, as the user knows it. For savers that add files to the same folder.
 */
export function writeModelFiles(tmp: string, dir: string, opts: SaveModelOptions): void {
  const cfg = parseModelConfig(opts.config, path.join(dir, 'config.json'));
  const shapes = checkWeights(cfg, opts.weights, path.join(dir, 'model.safetensors'));
  try {
    writeFolderContents(tmp, cfg, shapes, opts);
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(e.message.split(tmp).join(dir));
    throw e;
  }
}
