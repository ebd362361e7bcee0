/**
 * A tiny random chat model folder as users have them: config.json whose vocab_size is padded beyond the
 * tokenizer (as many HF models are), model.safetensors, the world tokenizer (267 tokens, ChatML template) and
 * generation_config.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectedParamShapes, parseModelConfig } from '../../src/model/config.ts';
import { saveModelFolder } from '../../src/model/save.ts';
import { Rng } from '../../src/util/rng.ts';
import { trainWorldTokenizer, writeTokenizerFiles } from '../../src/world/tokenizer-train.ts';

/** Embedding rows of the tiny model; the tokenizer has fewer ids. */
export const PADDED_VOCAB = 320;

/** Writes the world tokenizer files (no corpus words: special tokens, characters, bytes, chat roles) into `dir`. */
export function writeWorldTokenizer(dir: string): void {
  writeTokenizerFiles(dir, trainWorldTokenizer([], { minCount: Number.MAX_SAFE_INTEGER }));
}

/** Gaussian weights (std 0.3; norms 1 + noise) from one seed. */
export function randomWeights(config: Record<string, unknown>, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(parseModelConfig(config, 'config.json'))) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    const norm = name.endsWith('norm.weight');
    for (let i = 0; i < a.length; i++) a[i] = (norm ? 1 : 0) + (norm ? 0.1 : 0.3) * normal();
    weights.set(name, a);
  }
  return weights;
}

/** Writes the tiny chat model into a new temporary folder and returns its path. */
export function writeChatFolder(opts: { seed?: number; generationConfig?: Record<string, unknown>; config?: Record<string, unknown> } = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-folder-'));
  const tokDir = path.join(root, 'tokenizer');
  writeWorldTokenizer(tokDir);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: PADDED_VOCAB,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 8,
    hidden_act: 'silu',
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 4, // <|im_end|>
    pad_token_id: 0,
    ...opts.config,
  };
  const dir = path.join(root, 'model');
  saveModelFolder(dir, { config, weights: randomWeights(config, opts.seed ?? 1), tokenizerFrom: tokDir, generationConfig: opts.generationConfig });
  return dir;
}
