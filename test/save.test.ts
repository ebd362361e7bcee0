import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelFormatError } from '../src/errors.ts';
import { expectedParamShapes, parseModelConfig, type LlamaConfig } from '../src/model/config.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { readSafetensorsHeader } from '../src/model/safetensors.ts';
import { hfConfigFromLlamaConfig, saveModelFolder } from '../src/model/save.ts';
import { Rng } from '../src/util/rng.ts';
import { trainWorldTokenizer, writeTokenizerFiles } from '../src/world/tokenizer-train.ts';

const FIXTURES = ['llama-gqa', 'llama-tied-mha', 'qwen2-bias', 'llama-headdim'].map((n) => path.join('test', 'fixtures', n));

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'save-test-'));
}

/** Names in `parent` left behind by a save (temporary or moved-aside folders). */
function leftovers(parent: string): string[] {
  return fs.readdirSync(parent).filter((n) => n.includes('.tmp-') || n.includes('.old-'));
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function assertSameWeights(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...got.keys()], [...want.keys()], what);
  for (const [name, w] of want) assert.ok(bitsEqual(got.get(name)!, w), `${what}: ${name} differs`);
}

/** Independent bf16 rounding reference: round-to-nearest-even on the top 16 bits, via DataView and plain arithmetic. */
function bf16Round(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x, true);
  const bits = dv.getUint32(0, true);
  const upper = Math.floor(bits / 65536);
  const lower = bits % 65536;
  const roundUp = lower > 32768 || (lower === 32768 && upper % 2 === 1);
  dv.setUint32(0, ((upper + (roundUp ? 1 : 0)) * 65536) >>> 0, true);
  return dv.getFloat32(0, true);
}

function randomWeights(cfg: LlamaConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const w = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < w.length; i++) w[i] = (rng.next() - 0.5) * 0.2;
    weights.set(name, w);
  }
  return weights;
}

test('save -> load is bit-identical (f32) for every fixture folder', () => {
  const root = tmpDir();
  for (const fixture of FIXTURES) {
    const src = loadModelFolder(fixture);
    const out = path.join(root, path.basename(fixture));
    saveModelFolder(out, { config: src.rawConfig, weights: src.weights });
    const back = loadModelFolder(out);
    assertSameWeights(back.weights, src.weights, fixture);
    assert.deepEqual(back.cfg, src.cfg);
    assert.equal(back.rawConfig.torch_dtype, 'float32');
    assert.deepEqual(back.generationConfig, { _from_model_config: true, bos_token_id: 1, eos_token_id: 2 });
    assert.equal(back.tokenizer, undefined);
    console.log(`${path.basename(fixture)}: ${src.weights.size} tensors round-trip bit-identically`);
  }
  assert.deepEqual(leftovers(root), []);
});

test('bf16 save -> load equals the bf16-rounded weights; header dtype and torch_dtype say bfloat16', () => {
  const root = tmpDir();
  for (const fixture of FIXTURES) {
    const src = loadModelFolder(fixture);
    const out = path.join(root, path.basename(fixture));
    saveModelFolder(out, { config: src.rawConfig, weights: src.weights, dtype: 'bfloat16' });
    const back = loadModelFolder(out);
    let maxDiff = 0;
    for (const [name, w] of src.weights) {
      const want = Float32Array.from(w, bf16Round);
      assert.ok(bitsEqual(back.weights.get(name)!, want), `${fixture}: ${name}`);
      for (let i = 0; i < w.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w[i] - want[i]));
    }
    assert.equal(back.rawConfig.torch_dtype, 'bfloat16');
    const header = readSafetensorsHeader(path.join(out, 'model.safetensors'));
    assert.ok([...header.entries.values()].every((e) => e.dtype === 'BF16'));
    assert.equal(header.metadata.format, 'pt');
    console.log(`${path.basename(fixture)} bf16: equals reference rounding; max |f32 - bf16| ${maxDiff.toExponential(2)}`);
  }
});

test('sharded save (HF layout) -> load is bit-identical, in f32 and bf16', () => {
  const root = tmpDir();
  const src = loadModelFolder(FIXTURES[0]);
  for (const dtype of ['float32', 'bfloat16'] as const) {
    const out = path.join(root, dtype);
    saveModelFolder(out, { config: src.rawConfig, weights: src.weights, dtype, maxShardBytes: 8192 });
    const files = fs.readdirSync(out).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length > 1, `expected several shards, got ${files.join(', ')}`);
    assert.ok(shards.every((f) => f.endsWith(`-of-${String(shards.length).padStart(5, '0')}.safetensors`)));
    assert.ok(!files.includes('model.safetensors'));
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    const bytes = dtype === 'float32' ? 4 : 2;
    const total = [...src.weights.values()].reduce((a, w) => a + w.length * bytes, 0);
    assert.equal(index.metadata.total_size, total);
    assert.deepEqual(Object.keys(index.weight_map).sort(), [...src.weights.keys()].sort());
    for (const shard of shards) {
      const size = fs.statSync(path.join(out, shard)).size;
      const header = readSafetensorsHeader(path.join(out, shard));
      const data = size - header.dataStart;
      assert.ok(data <= 8192 || header.entries.size === 1, `${shard}: ${data} data bytes`);
    }
    const back = loadModelFolder(out);
    const want = dtype === 'float32' ? src.weights : new Map([...src.weights].map(([n, w]) => [n, Float32Array.from(w, bf16Round)]));
    assertSameWeights(back.weights, want, `sharded ${dtype}`);
    console.log(`sharded ${dtype}: ${shards.length} shards, total_size ${total}`);
  }
});

test('hfConfigFromLlamaConfig: parses back to the same LlamaConfig for Llama, Qwen2, Mistral, sequence classification', () => {
  const configs: Record<string, unknown>[] = FIXTURES.map((f) => JSON.parse(fs.readFileSync(path.join(f, 'config.json'), 'utf8')));
  const base = configs[0];
  configs.push(
    { ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 64 },
    { ...base, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', use_sliding_window: true, sliding_window: 32 },
    { ...base, architectures: ['LlamaForSequenceClassification'], num_labels: 1, pad_token_id: 0 },
    { ...base, attention_bias: true, eos_token_id: [2, 3], bos_token_id: null },
  );
  for (const raw of configs) {
    const cfg = parseModelConfig(raw, 'config.json');
    const written = hfConfigFromLlamaConfig(cfg);
    assert.deepEqual(parseModelConfig(JSON.parse(JSON.stringify(written)), 'config.json'), cfg, cfg.architecture);
  }
});

test('a folder saved with a world tokenizer loads back with it (tokenizer files, generation_config, chat template)', () => {
  const root = tmpDir();
  const tokDir = path.join(root, 'tok');
  const trained = trainWorldTokenizer(['Reverse the word abc.'], { fixedTexts: ['Reverse the word {word}.'] });
  writeTokenizerFiles(tokDir, trained);
  fs.writeFileSync(path.join(tokDir, 'generation_config.json'), JSON.stringify({ eos_token_id: [4, 2], temperature: 0.7 }));
  const vocabSize = Object.keys((trained.tokenizerJson.model as { vocab: object }).vocab).length;
  const cfg = parseModelConfig(
    {
      architectures: ['LlamaForCausalLM'], vocab_size: vocabSize, hidden_size: 16, intermediate_size: 32,
      num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, bos_token_id: 1, eos_token_id: 4, pad_token_id: 0,
    },
    'config.json',
  );
  const weights = randomWeights(cfg, 3);
  const out = path.join(root, 'model');
  saveModelFolder(out, { config: hfConfigFromLlamaConfig(cfg), weights, tokenizerFrom: tokDir });
  const back = loadModelFolder(out);
  assertSameWeights(back.weights, weights, 'random model');
  assert.deepEqual(back.generationConfig, { eos_token_id: [4, 2], temperature: 0.7 });
  assert.ok(back.tokenizer);
  assert.deepEqual(back.tokenizer.eosIds, [4, 2]);
  const prompt = back.tokenizer.applyChatTemplate([{ role: 'user', content: 'Reverse the word xyz.' }], { addGenerationPrompt: true });
  assert.equal(back.tokenizer.decode(back.tokenizer.encode(prompt, { addSpecialTokens: false })), prompt);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    assert.equal(fs.readFileSync(path.join(out, f), 'utf8'), fs.readFileSync(path.join(tokDir, f), 'utf8'));
  }
  // A tokenizer with more ids than the embedding has rows is named.
  const small = { ...hfConfigFromLlamaConfig(cfg), vocab_size: 64 };
  const smallCfg = parseModelConfig(small, 'config.json');
  saveModelFolder(path.join(root, 'small'), { config: small, weights: randomWeights(smallCfg, 4), tokenizerFrom: tokDir });
  assert.throws(() => loadModelFolder(path.join(root, 'small')), /config\.json: vocab_size 64 is smaller than the tokenizer's \d+ ids/);
});

test('atomic replace: an existing folder is replaced whole; a failure mid-write leaves it intact and no temp folder', () => {
  const root = tmpDir();
  const src = loadModelFolder(FIXTURES[0]);
  const out = path.join(root, 'model');
  // First a sharded folder, then a single-file one: no stale shard or index may survive the replacement.
  saveModelFolder(out, { config: src.rawConfig, weights: src.weights, maxShardBytes: 8192 });
  const changed = new Map([...src.weights].map(([n, w]) => [n, w.map((x) => x * 2)]));
  saveModelFolder(out, { config: src.rawConfig, weights: changed });
  assert.deepEqual(fs.readdirSync(out).sort(), ['config.json', 'generation_config.json', 'model.safetensors']);
  assertSameWeights(loadModelFolder(out).weights, changed, 'replaced');
  assert.deepEqual(leftovers(root), []);

  // The last tensor has the wrong element count: the shards before it are already written when the write fails.
  const names = [...src.weights.keys()];
  const last = names[names.length - 1];
  const bad = new Map(src.weights);
  bad.set(last, new Float32Array(src.weights.get(last)!.length - 1));
  const before = Object.fromEntries(fs.readdirSync(out).map((f) => [f, fs.readFileSync(path.join(out, f))]));
  assert.throws(
    () => saveModelFolder(out, { config: src.rawConfig, weights: bad, maxShardBytes: 8192 }),
    (e: Error) =>
      e instanceof ModelFormatError &&
      e.message.startsWith(path.join(out, 'model-000')) &&
      e.message.includes(`tensor "${last}"`),
  );
  const after = Object.fromEntries(fs.readdirSync(out).map((f) => [f, fs.readFileSync(path.join(out, f))]));
  assert.deepEqual(after, before);
  assertSameWeights(loadModelFolder(out).weights, changed, 'intact after failure');
  assert.deepEqual(leftovers(root), []);

  // Checked before anything is written: unknown and missing tensors.
  const extra = new Map(src.weights).set('lm_head.bias', new Float32Array(1));
  assert.throws(() => saveModelFolder(out, { config: src.rawConfig, weights: extra }), /tensor "lm_head.bias": not a parameter/);
  const missing = new Map(src.weights);
  missing.delete('model.norm.weight');
  assert.throws(() => saveModelFolder(out, { config: src.rawConfig, weights: missing }), /tensor "model.norm.weight": missing/);
  assert.deepEqual(leftovers(root), []);
  // A fresh folder that fails is not created at all.
  assert.throws(() => saveModelFolder(path.join(root, 'fresh'), { config: src.rawConfig, weights: bad }));
  assert.ok(!fs.existsSync(path.join(root, 'fresh')));
  assert.deepEqual(leftovers(root), []);
});
