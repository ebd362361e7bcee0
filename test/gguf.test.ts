/**
 * GGUF export: every fixture written as f32 and f16, read back with @huggingface/gguf (an independent parser),
 * and checked key by key, tensor by tensor, byte by byte. Expectations come from the raw config.json and the
 * safetensors files, with the tensor-name table and the rope permutation written out again here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gguf, GGUFValueType } from '@huggingface/gguf';
import { InputError, ModelFormatError } from '../src/errors.ts';
import { exportCommand } from '../src/cli/export.ts';
import { loadModelConfig } from '../src/model/config.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { permuteForGgmlRope, tokenizerMetadata, writeGguf } from '../src/model/gguf.ts';
import { readSafetensors } from '../src/model/safetensors.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const VARIANTS = ['llama-gqa', 'llama-tied-mha', 'qwen2-bias', 'llama-headdim'];
const T = GGUFValueType;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-test-'));
}

async function readBack(file: string) {
  return gguf(file, { allowLocalFile: true, typedMetadata: true });
}

/** Naive binary16 decode: (-1)^s * 2^(e-15) * (1 + m/1024); subnormals 2^-14 * m/1024. */
function halfValue(h: number): number {
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * Math.pow(2, -14) * (m / 1024);
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

/** Reference permutation by strided indexing: [H, 2, D/2, C] -> swap axes 1, 2 -> [H, D/2, 2, C]. */
function swapAxesReference(w: Float32Array, H: number, D: number): Float32Array {
  const C = w.length / (H * D);
  const half = D / 2;
  const out = new Float32Array(w.length);
  let k = 0;
  for (let h = 0; h < H; h++)
    for (let j = 0; j < half; j++)
      for (let t = 0; t < 2; t++)
        for (let c = 0; c < C; c++) out[k++] = w[((h * 2 + t) * half + j) * C + c];
  return out;
}

// ---- expectations from the raw config.json

type RawCfg = Record<string, any>;

function expectedMetadata(raw: RawCfg, dtype: 'f32' | 'f16', name: string): Map<string, [GGUFValueType, unknown]> {
  const arch = raw.architectures[0] === 'Qwen2ForCausalLM' ? 'qwen2' : 'llama';
  const headDim = raw.head_dim ?? raw.hidden_size / raw.num_attention_heads;
  const m = new Map<string, [GGUFValueType, unknown]>([
    ['general.architecture', [T.STRING, arch]],
    ['general.name', [T.STRING, name]],
    ['general.file_type', [T.UINT32, dtype === 'f16' ? 1 : 0]],
    ['general.quantization_version', [T.UINT32, 2]],
    [`${arch}.context_length`, [T.UINT32, raw.max_position_embeddings]],
    [`${arch}.embedding_length`, [T.UINT32, raw.hidden_size]],
    [`${arch}.block_count`, [T.UINT32, raw.num_hidden_layers]],
    [`${arch}.feed_forward_length`, [T.UINT32, raw.intermediate_size]],
    [`${arch}.attention.head_count`, [T.UINT32, raw.num_attention_heads]],
    [`${arch}.attention.head_count_kv`, [T.UINT32, raw.num_key_value_heads]],
    [`${arch}.attention.layer_norm_rms_epsilon`, [T.FLOAT32, Math.fround(raw.rms_norm_eps)]],
    [`${arch}.rope.freq_base`, [T.FLOAT32, Math.fround(raw.rope_theta)]],
    [`${arch}.rope.dimension_count`, [T.UINT32, headDim]],
    [`${arch}.vocab_size`, [T.UINT32, raw.vocab_size]],
    ['tokenizer.ggml.model', [T.STRING, 'no_vocab']],
  ]);
  if (headDim * raw.num_attention_heads !== raw.hidden_size) {
    m.set(`${arch}.attention.key_length`, [T.UINT32, headDim]);
    m.set(`${arch}.attention.value_length`, [T.UINT32, headDim]);
  }
  return m;
}

interface ExpectedTensor {
  name: string;
  hf: string;
  /** Heads to permute over (llama q/k), else undefined. */
  permuteHeads?: number;
}

function expectedTensors(raw: RawCfg): ExpectedTensor[] {
  const llama = raw.architectures[0] !== 'Qwen2ForCausalLM';
  const bias = !llama || raw.attention_bias;
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', hf: 'model.embed_tokens.weight' }];
  for (let i = 0; i < raw.num_hidden_layers; i++) {
    const b = `blk.${i}.`;
    const p = `model.layers.${i}.`;
    const qh = llama ? raw.num_attention_heads : undefined;
    const kh = llama ? raw.num_key_value_heads : undefined;
    out.push({ name: `${b}attn_norm.weight`, hf: `${p}input_layernorm.weight` });
    out.push({ name: `${b}attn_q.weight`, hf: `${p}self_attn.q_proj.weight`, permuteHeads: qh });
    if (bias) out.push({ name: `${b}attn_q.bias`, hf: `${p}self_attn.q_proj.bias`, permuteHeads: qh });
    out.push({ name: `${b}attn_k.weight`, hf: `${p}self_attn.k_proj.weight`, permuteHeads: kh });
    if (bias) out.push({ name: `${b}attn_k.bias`, hf: `${p}self_attn.k_proj.bias`, permuteHeads: kh });
    out.push({ name: `${b}attn_v.weight`, hf: `${p}self_attn.v_proj.weight` });
    if (bias) out.push({ name: `${b}attn_v.bias`, hf: `${p}self_attn.v_proj.bias` });
    out.push({ name: `${b}attn_output.weight`, hf: `${p}self_attn.o_proj.weight` });
    out.push({ name: `${b}ffn_norm.weight`, hf: `${p}post_attention_layernorm.weight` });
    out.push({ name: `${b}ffn_gate.weight`, hf: `${p}mlp.gate_proj.weight` });
    out.push({ name: `${b}ffn_up.weight`, hf: `${p}mlp.up_proj.weight` });
    out.push({ name: `${b}ffn_down.weight`, hf: `${p}mlp.down_proj.weight` });
  }
  out.push({ name: 'output_norm.weight', hf: 'model.norm.weight' });
  if (!raw.tie_word_embeddings) out.push({ name: 'output.weight', hf: 'lm_head.weight' });
  return out;
}

function checkMetadata(typed: Record<string, { value: unknown; type: GGUFValueType }>, want: Map<string, [GGUFValueType, unknown]>) {
  const got = Object.keys(typed).filter((k) => !['version', 'tensor_count', 'kv_count'].includes(k));
  assert.deepEqual(got.sort(), [...want.keys()].sort(), 'metadata key set');
  for (const [key, [type, value]] of want) {
    assert.equal(typed[key].type, type, `${key}: type`);
    assert.deepEqual(typed[key].value, value, `${key}: value`);
  }
}

/** Checks every tensor's info and bytes; returns the max |f16 - source| relative to the f16 half-ulp bound. */
function checkTensors(file: string, parsed: Awaited<ReturnType<typeof readBack>>, raw: RawCfg, dir: string, dtype: string): number {
  const source = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
  const bytes = fs.readFileSync(file);
  const want = expectedTensors(raw);
  assert.deepEqual(parsed.tensorInfos.map((t) => t.name), want.map((t) => t.name), 'tensor names and order');
  assert.equal(Number(parsed.tensorDataOffset) % 32, 0, 'data section aligned');
  let worst = 0;
  want.forEach((w, i) => {
    const info = parsed.tensorInfos[i];
    const src = source.get(w.hf)!;
    assert.deepEqual(info.shape.map(Number), [...src.shape].reverse(), `${w.name}: ggml dims`);
    assert.equal(info.n_dims, src.shape.length, `${w.name}: n_dims`);
    const f16 = dtype === 'f16' && src.shape.length === 2;
    assert.equal(Number(info.dtype), f16 ? 1 : 0, `${w.name}: ggml type`);
    assert.equal(Number(info.offset) % 32, 0, `${w.name}: offset aligned`);
    const x = src.data as Float32Array;
    const ref = w.permuteHeads === undefined ? x : swapAxesReference(x, w.permuteHeads, (raw.head_dim ?? raw.hidden_size / raw.num_attention_heads));
    const start = Number(parsed.tensorDataOffset + info.offset);
    const n = ref.length;
    const raw8 = new Uint8Array(bytes.subarray(start, start + n * (f16 ? 2 : 4)));
    assert.equal(raw8.length, n * (f16 ? 2 : 4), `${w.name}: data inside the file`);
    if (!f16) {
      assert.deepEqual(new Float32Array(raw8.buffer), ref, `${w.name}: f32 data`);
      return;
    }
    const halves = new Uint16Array(raw8.buffer);
    for (let k = 0; k < n; k++) {
      const bound = Math.max(Math.abs(ref[k]) * 2 ** -11, 2 ** -25); // half an f16 ulp (normal, subnormal)
      const err = Math.abs(halfValue(halves[k]) - ref[k]);
      assert.ok(err <= bound, `${w.name}[${k}]: f16 ${halfValue(halves[k])} vs ${ref[k]}`);
      worst = Math.max(worst, err / bound);
    }
  });
  return worst;
}

for (const variant of VARIANTS) {
  for (const dtype of ['f32', 'f16'] as const) {
    test(`${variant} ${dtype}: metadata, tensor infos and data read back with @huggingface/gguf`, async () => {
      const dir = path.join(FIXTURES, variant);
      const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const out = path.join(tmpDir(), `${variant}.gguf`);
      const summary = exportCommand({ model: dir, gguf: out, dtype });
      const parsed = await readBack(out);
      assert.equal(parsed.metadata.version, 3);
      assert.equal(summary.bytes, fs.statSync(out).size);
      assert.equal(summary.tensors, parsed.tensorInfos.length);
      checkMetadata(parsed.typedMetadata as never, expectedMetadata(raw, dtype, variant));
      const worst = checkTensors(out, parsed, raw, dir, dtype);
      const data = dtype === 'f32' ? 'f32 data bit-exact' : `max f16 error / half-ulp = ${worst.toFixed(3)}`;
      console.log(`${variant} ${dtype}: ${summary.tensors} tensors, ${summary.bytes} bytes; ${data}`);
      assert.deepEqual(fs.readdirSync(path.dirname(out)), [`${variant}.gguf`], 'no temp file left');
    });
  }
}

// ---- the rope permutation

test('permuteForGgmlRope: hand example, 2 heads of dim 4, 2 columns', () => {
  // rows r0..r7 (row r = [10r, 10r+1]); per head rows [0,1,2,3] -> [0,2,1,3]
  const w = Float32Array.from({ length: 16 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
  const rows = [0, 2, 1, 3, 4, 6, 5, 7];
  const want = Float32Array.from(rows.flatMap((r) => [10 * r, 10 * r + 1]));
  assert.deepEqual(permuteForGgmlRope(w, 2, 4), want);
  // a bias (one column), head dim 6: [0..5] -> [0,3,1,4,2,5]
  assert.deepEqual(permuteForGgmlRope(Float32Array.from([0, 1, 2, 3, 4, 5]), 1, 6), Float32Array.from([0, 3, 1, 4, 2, 5]));
  assert.throws(() => permuteForGgmlRope(new Float32Array(6), 1, 3), ModelFormatError);
});

test('permuted q/k under interleaved rope give the same attention scores as HF q/k under rotate-half rope', () => {
  const H = 2, D = 8, C = 5, theta = 10000;
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const wq = Float32Array.from({ length: H * D * C }, rand);
  const wk = Float32Array.from({ length: H * D * C }, rand);
  const x = [Float32Array.from({ length: C }, rand), Float32Array.from({ length: C }, rand)];
  const matvec = (w: Float32Array, v: Float32Array) => Array.from({ length: H * D }, (_, r) => v.reduce((s, vi, c) => s + w[r * C + c] * vi, 0));
  const angle = (i: number, pos: number) => pos * theta ** (-(2 * i) / D);
  // HF: dim i pairs with i + D/2; ggml llama: dim 2i pairs with 2i + 1.
  const rotateHalf = (q: number[], pos: number) => q.map((_, r) => {
    const h = Math.floor(r / D), d = r % D, i = d % (D / 2), a = angle(i, pos);
    const lo = q[h * D + i], hi = q[h * D + i + D / 2];
    return d < D / 2 ? lo * Math.cos(a) - hi * Math.sin(a) : hi * Math.cos(a) + lo * Math.sin(a);
  });
  const interleaved = (q: number[], pos: number) => q.map((_, r) => {
    const h = Math.floor(r / D), d = r % D, i = Math.floor(d / 2), a = angle(i, pos);
    const even = q[h * D + 2 * i], odd = q[h * D + 2 * i + 1];
    return d % 2 === 0 ? even * Math.cos(a) - odd * Math.sin(a) : odd * Math.cos(a) + even * Math.sin(a);
  });
  const scores = (q: number[], k: number[]) => Array.from({ length: H }, (_, h) => q.slice(h * D, h * D + D).reduce((s, v, d) => s + v * k[h * D + d], 0));
  const hf = scores(rotateHalf(matvec(wq, x[0]), 5), rotateHalf(matvec(wk, x[1]), 2));
  const gg = scores(interleaved(matvec(permuteForGgmlRope(wq, H, D), x[0]), 5), interleaved(matvec(permuteForGgmlRope(wk, H, D), x[1]), 2));
  const diff = Math.max(...hf.map((s, h) => Math.abs(s - gg[h])));
  console.log(`rope permutation: max |score_hf - score_ggml| = ${diff.toExponential(2)}`);
  assert.ok(diff < 1e-5, `scores differ by ${diff}`);
  // and without the permutation they do not agree: the test can fail
  const wrong = scores(interleaved(matvec(wq, x[0]), 5), interleaved(matvec(wk, x[1]), 2));
  assert.ok(Math.max(...hf.map((s, h) => Math.abs(s - wrong[h]))) > 1e-3);
});

// ---- tokenizer metadata

/** A small byte-level BPE tokenizer: 12 vocab ids, 3 merges, 3 special added tokens and 1 plain added token. */
function writeTokenizer(dir: string, mergesAsPairs: boolean, extraConfig: Record<string, unknown> = {}): void {
  const vocab: Record<string, number> = { a: 3, b: 4, c: 5, 'Ġ': 6, 'Ċ': 7, ab: 8, abc: 9, 'Ġa': 10, 'Ġab': 11, h: 12, i: 13, hi: 14 };
  const merges = mergesAsPairs ? [['a', 'b'], ['ab', 'c'], ['Ġ', 'a'], ['Ġa', 'b'], ['h', 'i']] : ['a b', 'ab c', 'Ġ a', 'Ġa b', 'h i'];
  const added = [
    { id: 0, content: '<unk>', special: true },
    { id: 1, content: '<s>', special: true },
    { id: 2, content: '</s>', special: true },
    { id: 15, content: '<|im_end|>', special: true },
    { id: 16, content: 'hello world', special: false },
  ].map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false }));
  const tok = {
    version: '1.0',
    added_tokens: added,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, ...vocab }, merges },
  };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok));
  fs.writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: { content: '<s>', special: true },
      eos_token: '<|im_end|>',
      pad_token: '</s>',
      unk_token: '<unk>',
      add_bos_token: true,
      add_eos_token: false,
      chat_template: "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|im_end|>{% endfor %}",
      ...extraConfig,
    }),
  );
}

function fixtureCopy(variant: string): string {
  const dir = tmpDir();
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIXTURES, variant, f), path.join(dir, f));
  return dir;
}

for (const pairs of [false, true]) {
  test(`tokenizer metadata from tokenizer.json (merges as ${pairs ? 'pairs' : 'strings'}) read back`, async () => {
    const dir = fixtureCopy('llama-tied-mha'); // vocab_size 50: ids 17..49 are padding
    writeTokenizer(dir, pairs);
    const out = path.join(dir, 'out.gguf');
    exportCommand({ model: dir, gguf: out, dtype: 'f16' });
    const { typedMetadata: md } = await readBack(out);
    const tokens = md['tokenizer.ggml.tokens'];
    assert.equal(tokens.type, T.ARRAY);
    assert.equal(tokens.subType, T.STRING);
    const names = ['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'Ġ', 'Ċ', 'ab', 'abc', 'Ġa', 'Ġab', 'h', 'i', 'hi', '<|im_end|>', 'hello world'];
    const pad = Array.from({ length: 50 - names.length }, (_, i) => `[PAD${names.length + i}]`);
    assert.deepEqual(tokens.value, [...names, ...pad]);
    assert.equal(md['tokenizer.ggml.token_type'].subType, T.INT32);
    assert.deepEqual(md['tokenizer.ggml.token_type'].value, [3, 3, 3, ...Array(12).fill(1), 3, 4, ...Array(pad.length).fill(5)]);
    assert.equal(md['tokenizer.ggml.merges'].subType, T.STRING);
    assert.deepEqual(md['tokenizer.ggml.merges'].value, ['a b', 'ab c', 'Ġ a', 'Ġa b', 'h i']);
    const scalars: [string, GGUFValueType, unknown][] = [
      ['tokenizer.ggml.model', T.STRING, 'gpt2'],
      ['tokenizer.ggml.pre', T.STRING, 'gpt-2'], // a lone ByteLevel(use_regex) pre-tokenizer is GPT-2's regex
      ['tokenizer.ggml.bos_token_id', T.UINT32, 1],
      ['tokenizer.ggml.eos_token_id', T.UINT32, 15],
      ['tokenizer.ggml.padding_token_id', T.UINT32, 2],
      ['tokenizer.ggml.unknown_token_id', T.UINT32, 0],
      ['tokenizer.ggml.add_bos_token', T.BOOL, true],
      ['tokenizer.ggml.add_eos_token', T.BOOL, false],
      ['tokenizer.chat_template', T.STRING, "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|im_end|>{% endfor %}"],
    ];
    for (const [key, type, value] of scalars) {
      assert.equal(md[key]?.type, type, `${key}: type`);
      assert.deepEqual(md[key].value, value, `${key}: value`);
    }
    const tokKeys = Object.keys(md).filter((k) => k.startsWith('tokenizer.')).sort();
    assert.deepEqual(tokKeys, [...scalars.map((s) => s[0]), 'tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges'].sort());
  });
}

test('tokenizer metadata: pair merges with spaces, named templates, chat_template.jinja wins, config.json fallback ids', () => {
  const dir = fixtureCopy('llama-gqa');
  writeTokenizer(dir, true, { bos_token: undefined, eos_token: null, chat_template: [
    { name: 'default', template: 'D' },
    { name: 'tool_use', template: 'TU' },
  ] });
  const cfg = loadModelConfig(dir);
  const tokPath = path.join(dir, 'tokenizer.json');
  const tok = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  tok.model.merges.push(['a b', 'c']);
  fs.writeFileSync(tokPath, JSON.stringify(tok));
  let md = tokenizerMetadata(dir, cfg);
  assert.deepEqual((md.get('tokenizer.ggml.merges')!.value as string[]).at(-1), 'a\u0120b c');
  assert.equal(md.get('tokenizer.chat_template')!.value, 'D');
  assert.equal(md.get('tokenizer.chat_template.tool_use')!.value, 'TU');
  assert.equal(md.get('tokenizer.ggml.bos_token_id')!.value, 1, 'bos from config.json bos_token_id');
  assert.equal(md.get('tokenizer.ggml.eos_token_id')!.value, 2, 'eos from config.json eos_token_id');
  fs.writeFileSync(path.join(dir, 'chat_template.jinja'), 'J');
  md = tokenizerMetadata(dir, cfg);
  assert.equal(md.get('tokenizer.chat_template')!.value, 'J');
});

// ---- errors

test('errors: reward-model architecture, missing tensor, tokenizer ids beyond the vocabulary, non-BPE, bad --dtype', () => {
  const dir = fixtureCopy('llama-gqa');
  const cfg = loadModelConfig(dir);
  const { weights } = loadModelWeights(dir, cfg);
  const out = path.join(dir, 'x.gguf');
  const seqCls = { ...cfg, architecture: 'LlamaForSequenceClassification' as const, numLabels: 1 };
  assert.throws(() => writeGguf(out, { cfg: seqCls, weights, dtype: 'f32' }), (e: Error) => e instanceof ModelFormatError && /LlamaForSequenceClassification/.test(e.message));
  const partial = new Map(weights);
  partial.delete('model.layers.1.mlp.up_proj.weight');
  assert.throws(() => writeGguf(out, { cfg, weights: partial, dtype: 'f16' }), (e: Error) => e instanceof ModelFormatError && /model\.layers\.1\.mlp\.up_proj\.weight.*missing/.test(e.message));
  const short = new Map(weights);
  short.set('model.norm.weight', new Float32Array(3));
  assert.throws(() => writeGguf(out, { cfg, weights: short, dtype: 'f16' }), /model\.norm\.weight.*3 values/);
  writeTokenizer(dir, false);
  const tokPath = path.join(dir, 'tokenizer.json');
  const tok = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  tok.added_tokens.push({ id: 64, content: '<big>', special: true });
  fs.writeFileSync(tokPath, JSON.stringify(tok));
  assert.throws(() => writeGguf(out, { cfg, weights, dtype: 'f32', tokenizerDir: dir }), (e: Error) => e instanceof ModelFormatError && /tokenizer\.json.*added_tokens\[5\].*64.*vocabulary \(64\)/.test(e.message));
  tok.model.type = 'Unigram';
  fs.writeFileSync(tokPath, JSON.stringify(tok));
  assert.throws(() => writeGguf(out, { cfg, weights, dtype: 'f32', tokenizerDir: dir }), /model\.type.*Unigram/);
  fs.writeFileSync(tokPath, '{not json');
  assert.throws(() => exportCommand({ model: dir, gguf: out }), (e: Error) => e instanceof ModelFormatError && /tokenizer\.json: invalid JSON/.test(e.message));
  assert.throws(() => exportCommand({ model: dir, gguf: out, dtype: 'bf16' }), InputError);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('gguf')), [], 'no output or temp file after failures');
});
