/**
 * GGUF v3 export, so a model trained here runs in llama.cpp and Ollama.
 *
 * File layout (all little-endian), as documented by ggml (docs/gguf.md):
 *   "GGUF" | u32 version = 3 | u64 tensor count | u64 kv count
 *   kv pairs:     string key | u32 value type | value (arrays: u32 element type, u64 count, elements)
 *   tensor infos: string name | u32 n_dims | u64 dims[n_dims] (ggml order: fastest-varying first, i.e. the HF
 *                 shape reversed) | u32 ggml type (0 F32, 1 F16) | u64 offset into the data section
 *   zero padding to `general.alignment` (32), then the data section: every tensor starts at a multiple of 32.
 * Strings are u64 byte length + UTF-8 bytes, without a terminator.
 *
 * Tensor names and metadata keys follow llama.cpp's convert_hf_to_gguf.py. One transformation is not a renaming:
 * for the "llama" architecture (Llama, Mistral) HF stores the q/k projection rows for rotate-half RoPE (dim j is
 * rotated with dim j + D/2) while ggml's llama rope rotates adjacent pairs (2j, 2j+1), so q_proj/k_proj rows
 * (and biases) are permuted per head: {@link permuteForGgmlRope}. Qwen2 ("qwen2", NEOX-style rope) is not permuted.
 *
 * Tokenizer: src/model/gguf-tokenizer.ts (byte-level BPE, SentencePiece-style BPE and the world tokenizer, each
 * written so llama.cpp tokenizes as the HF tokenizer.json does). A folder without tokenizer.json gets
 * `tokenizer.ggml.model = "no_vocab"`, since llama.cpp refuses to load a file without that key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { expectedParamShapes, type LlamaConfig } from './config.ts';
import { f32BitsToF16Bits } from './safetensors.ts';
import { brief } from '../util/brief.ts';
import { writeAll, writeFileAtomicWith } from '../util/fs.ts';
import { tokenizerMetadata } from './gguf-tokenizer.ts';

export { tokenizerMetadata };

/** Architectures llama.cpp knows, as written to `general.architecture`. */
export type GgufArchitecture = 'llama' | 'qwen2';

export interface WriteGgufOptions {
  cfg: LlamaConfig;
  /** Weights keyed by HF parameter name ({@link expectedParamShapes}), f32. */
  weights: Map<string, Float32Array>;
  /** Folder with tokenizer.json (+ tokenizer_config.json, chat_template.jinja); no tokenizer.json: no tokenizer keys. */
  tokenizerDir?: string;
  /** Storage type of 2-D weights; 1-D tensors (norms, biases) are always f32, as llama.cpp expects. */
  dtype: 'f32' | 'f16';
  /** `general.name` (default "model"). */
  name?: string;
}

/** What {@link writeGguf} wrote. */
export interface GgufSummary {
  file: string;
  tensors: number;
  bytes: number;
}

// ---- value types and the byte writer

/** ggml tensor types used here. */
export const GGML_TYPE = { F32: 0, F16: 1 } as const;
export const GGUF_ALIGNMENT = 32;

/** One typed metadata value. Integer arrays are written as the given element type. */
export type GgufValue =
  | { type: 'u32' | 'i32' | 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; of: 'string'; value: (string | Uint8Array)[] }
  | { type: 'array'; of: 'u32' | 'i32' | 'f32'; value: ArrayLike<number> };

/** GGUF metadata value type codes (ggml docs/gguf.md, `gguf_metadata_value_type`). */
const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;

/** Little-endian byte sink: small buffers, joined once at the end. */
class ByteWriter {
  private chunks: Buffer[] = [];
  length = 0;

  private put(n: number, write: (b: Buffer) => unknown): void {
    const b = Buffer.alloc(n);
    write(b);
    this.chunks.push(b);
    this.length += n;
  }
  u8(v: number): void { this.put(1, (b) => b.writeUInt8(v)); }
  u32(v: number): void { this.put(4, (b) => b.writeUInt32LE(v)); }
  i32(v: number): void { this.put(4, (b) => b.writeInt32LE(v)); }
  f32(v: number): void { this.put(4, (b) => b.writeFloatLE(v)); }
  u64(v: number): void { this.put(8, (b) => b.writeBigUInt64LE(BigInt(v))); }
  /** A GGUF string: UTF-8 text, or raw bytes as given (a token that is one byte of a multi-byte character). */
  string(s: string | Uint8Array): void {
    const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
    this.u64(bytes.length);
    this.put(bytes.length, (b) => bytes.copy(b));
  }
  padTo(alignment: number): void { this.put((alignment - (this.length % alignment)) % alignment, () => undefined); }
  bytes(): Buffer { return Buffer.concat(this.chunks); }
}

function writeScalar(w: ByteWriter, type: 'u32' | 'i32' | 'f32' | 'bool' | 'string', v: number | boolean | string | Uint8Array): void {
  if (type === 'u32') w.u32(v as number);
  else if (type === 'i32') w.i32(v as number);
  else if (type === 'f32') w.f32(v as number);
  else if (type === 'bool') w.u8(v ? 1 : 0);
  else w.string(v as string | Uint8Array);
}

function writeKv(w: ByteWriter, key: string, v: GgufValue): void {
  w.string(key);
  if (v.type !== 'array') {
    w.u32(VALUE_TYPE[v.type]);
    writeScalar(w, v.type, v.value);
    return;
  }
  w.u32(VALUE_TYPE.array);
  w.u32(VALUE_TYPE[v.of]);
  w.u64(v.value.length);
  for (let i = 0; i < v.value.length; i++) writeScalar(w, v.of, v.value[i]);
}

// ---- architecture, tensor names, the rope permutation

/**
 * `general.architecture` for a config; sequence classifiers (reward models) have no llama.cpp counterpart.
 * `source` (the config file) is named in the error.
 */
export function ggufArchitecture(cfg: LlamaConfig, source = 'config'): GgufArchitecture {
  switch (cfg.architecture) {
    case 'LlamaForCausalLM':
    case 'MistralForCausalLM':
      return 'llama';
    case 'Qwen2ForCausalLM':
      return 'qwen2';
    default:
      throw new ModelFormatError(
        `${source}: field \`architectures\`: GGUF export supports LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM, not ${cfg.architecture}`,
      );
  }
}

/** HF names inside `model.layers.N.` -> llama.cpp names inside `blk.N.`. */
const LAYER_TENSOR_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const TOP_TENSOR_NAMES: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

/** The llama.cpp tensor name of an HF parameter name. */
export function ggufTensorName(hfName: string): string {
  const top = TOP_TENSOR_NAMES[hfName];
  if (top) return top;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  const inner = m ? LAYER_TENSOR_NAMES[m[2]] : undefined;
  if (!m || !inner) throw new ModelFormatError(`tensor "${hfName}": no GGUF name for this parameter`);
  return `blk.${m[1]}.${inner}`;
}

/**
 * Rotate-half -> interleaved-pair row order, per head (convert_hf_to_gguf.py `LlamaModel.permute`): rows viewed
 * as [nHead, 2, D/2, cols], axes 1 and 2 swapped, back to [nHead*D, cols]. So out row h*D + 2j + t = in row
 * h*D + t*D/2 + j. Works for weights [nHead*D, cols] and biases [nHead*D] (cols = 1).
 */
export function permuteForGgmlRope(w: Float32Array, nHead: number, headDim: number): Float32Array {
  const rows = nHead * headDim;
  if (headDim % 2 !== 0 || w.length % rows !== 0) {
    throw new ModelFormatError(`rope permutation: ${w.length} values do not split into ${nHead} heads of even size ${headDim}`);
  }
  const cols = w.length / rows;
  const half = headDim / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let t = 0; t < 2; t++) {
      for (let j = 0; j < half; j++) {
        const src = (h * headDim + t * half + j) * cols;
        out.set(w.subarray(src, src + cols), (h * headDim + 2 * j + t) * cols);
      }
    }
  }
  return out;
}

/** One tensor to write: its info, and its bytes made only when written (large models are not held twice). */
interface TensorPlan {
  name: string;
  /** ggml order: the HF shape reversed. */
  dims: number[];
  type: number;
  byteLength: number;
  encode: () => Uint8Array;
}

function encodeF16(x: Float32Array): Uint8Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return new Uint8Array(out.buffer);
}

function ropePermuted(hfName: string, cfg: LlamaConfig, arch: GgufArchitecture): number | undefined {
  if (arch !== 'llama') return undefined;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return cfg.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return cfg.numKvHeads;
  return undefined;
}

function planTensors(cfg: LlamaConfig, weights: Map<string, Float32Array>, dtype: 'f32' | 'f16'): TensorPlan[] {
  const arch = ggufArchitecture(cfg);
  const plans: TensorPlan[] = [];
  for (const [hfName, shape] of expectedParamShapes(cfg)) {
    const w = weights.get(hfName);
    const count = shape.reduce((a, b) => a * b, 1);
    if (!w) throw new ModelFormatError(`tensor "${hfName}": missing (expected shape [${shape.join(', ')}])`);
    if (w.length !== count) {
      throw new ModelFormatError(`tensor "${hfName}": ${w.length} values do not match shape [${shape.join(', ')}]`);
    }
    const nHead = ropePermuted(hfName, cfg, arch);
    const f16 = dtype === 'f16' && shape.length >= 2;
    const data = () => (nHead === undefined ? w : permuteForGgmlRope(w, nHead, cfg.headDim));
    plans.push({
      name: ggufTensorName(hfName),
      dims: [...shape].reverse(),
      type: f16 ? GGML_TYPE.F16 : GGML_TYPE.F32,
      byteLength: count * (f16 ? 2 : 4),
      encode: () => {
        const x = data();
        return f16 ? encodeF16(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
      },
    });
  }
  return plans;
}

// ---- metadata

/** Hyper-parameter keys, typed as llama.cpp reads them. */
export function modelMetadata(cfg: LlamaConfig, dtype: 'f32' | 'f16', name: string): Map<string, GgufValue> {
  const arch = ggufArchitecture(cfg);
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const kv = new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', u32(dtype === 'f16' ? 1 : 0)], // LLAMA_FTYPE_ALL_F32 / MOSTLY_F16
    ['general.quantization_version', u32(2)],
    [`${arch}.context_length`, u32(cfg.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, u32(cfg.hiddenSize)],
    [`${arch}.block_count`, u32(cfg.numLayers)],
    [`${arch}.feed_forward_length`, u32(cfg.intermediateSize)],
    [`${arch}.attention.head_count`, u32(cfg.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(cfg.numKvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: cfg.rmsNormEps }],
    [`${arch}.rope.freq_base`, { type: 'f32', value: cfg.ropeTheta }],
    [`${arch}.rope.dimension_count`, u32(cfg.headDim)],
    [`${arch}.vocab_size`, u32(cfg.vocabSize)],
  ]);
  if (cfg.headDim * cfg.numHeads !== cfg.hiddenSize) {
    kv.set(`${arch}.attention.key_length`, u32(cfg.headDim));
    kv.set(`${arch}.attention.value_length`, u32(cfg.headDim));
  }
  return kv;
}

// ---- the file

function headerBytes(kv: Map<string, GgufValue>, plans: TensorPlan[], offsets: number[]): Buffer {
  const w = new ByteWriter();
  for (const c of 'GGUF') w.u8(c.charCodeAt(0));
  w.u32(3);
  w.u64(plans.length);
  w.u64(kv.size);
  for (const [key, value] of kv) writeKv(w, key, value);
  plans.forEach((p, i) => {
    w.string(p.name);
    w.u32(p.dims.length);
    for (const d of p.dims) w.u64(d);
    w.u32(p.type);
    w.u64(offsets[i]);
  });
  w.padTo(GGUF_ALIGNMENT);
  return w.bytes();
}

const alignUp = (n: number) => Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;

/**
 * Writes a GGUF v3 file, atomically (temp file + rename; the temp file is removed on failure). Tensors are
 * written in {@link expectedParamShapes} order under llama.cpp names; `output.weight` is absent when tied.
 */
export function writeGguf(file: string, opts: WriteGgufOptions): GgufSummary {
  const { cfg, dtype } = opts;
  const plans = planTensors(cfg, opts.weights, dtype);
  const kv = modelMetadata(cfg, dtype, opts.name ?? 'model');
  const tokenizer = opts.tokenizerDir ? tokenizerMetadata(opts.tokenizerDir, cfg) : new Map<string, GgufValue>();
  // llama.cpp refuses a file without `tokenizer.ggml.model`; "no_vocab" loads a model that takes token ids only.
  if (tokenizer.size === 0) tokenizer.set('tokenizer.ggml.model', { type: 'string', value: 'no_vocab' });
  for (const [k, v] of tokenizer) kv.set(k, v);
  const offsets: number[] = [];
  let dataBytes = 0;
  for (const p of plans) {
    offsets.push(dataBytes);
    dataBytes += alignUp(p.byteLength);
  }
  const header = headerBytes(kv, plans, offsets);
  writeFileAtomicWith(file, (fd) => {
    writeAll(fd, header);
    for (const p of plans) {
      const bytes = p.encode();
      writeAll(fd, bytes);
      writeAll(fd, new Uint8Array(alignUp(bytes.length) - bytes.length));
    }
  });
  return { file, tensors: plans.length, bytes: header.length + dataBytes };
}
