/**
 * The tokenizer keys of a GGUF file (`tokenizer.ggml.*`), written so that llama.cpp splits text into the same
 * token ids as the HF tokenizer.json does. Three kinds are written; anything else is refused with the reason.
 *
 * - Byte-level BPE (Llama-3, Qwen2/3, SmolLM, GPT-2): llama.cpp's "gpt2" model with the merges, and
 *   `tokenizer.ggml.pre` naming the llama.cpp pre-tokenizer that splits words the same way (src/model/gguf-pre.ts:
 *   the fingerprint llama.cpp's own converter uses, else the pre_tokenizer's regex). Unknown regex: refused.
 * - SentencePiece-style BPE (Llama-2, Mistral v0.1, TinyLlama: "▁" for spaces, `<0xNN>` byte fallback): llama.cpp's
 *   "llama" model, which merges the adjacent pair whose result has the highest score. HF merges the pair of lowest
 *   merge rank, so a token's score is minus the rank of the first merge that makes it. `<0xNN>` tokens are typed
 *   BYTE, the unknown token UNKNOWN.
 * - The world tokenizer of models/default (src/world/tokenizer-train.ts): known words whole, everything else one
 *   character or byte at a time, split by a custom regex no llama.cpp pre-tokenizer has. It is written as a
 *   byte-level vocabulary with no merges under "llama-bpe", whose `ignore_merges` emits a pre-token that is in the
 *   vocabulary as one token and spells out any other; every single character that is always its own token in the
 *   world tokenizer (everything but letters and space: digits, punctuation, "\n", and each byte of a non-ASCII
 *   character, as a raw byte) is typed USER_DEFINED, and llama.cpp cuts user-defined tokens out of the text before
 *   pre-tokenizing. What remains for its regex is runs of ASCII letters and spaces, which it splits into " word" /
 *   "word" exactly where the world regex does. One exception: a NUL byte cannot be a GGUF token text (llama.cpp
 *   reads them as C strings), so it stays a byte-level character and a word right after a NUL is spelled out.
 *
 * In every kind, added tokens are CONTROL when special and USER_DEFINED otherwise, and ids the vocabulary does not
 * fill (up to the model's vocab_size) are UNUSED `[PADi]` entries, as convert_hf_to_gguf.py writes them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import type { LlamaConfig } from './config.ts';
import type { GgufValue } from './gguf.ts';
import { describePre, PRE_CHECK_TEXT, preCheckHash, preFromHash, preFromStructure } from './gguf-pre.ts';
import { loadTokenizer } from './tokenizer.ts';
import { worldSplitRegex } from './word-split.ts';
import { brief } from '../util/brief.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTokenId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** llama.cpp token types (`llama_token_type`). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** How a tokenizer.json is written to GGUF. */
export type GgufTokenizerKind = 'byte-level' | 'sentencepiece' | 'world-words';

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

// ---- GPT-2's byte <-> printable character map (the alphabet of byte-level vocabularies)

let byteChars: string[] | undefined;

/** The printable character GPT-2's byte-level encoding gives byte `b` (space -> "Ġ", "\n" -> "Ċ"). */
export function byteLevelChar(b: number): string {
  if (!byteChars) {
    byteChars = [];
    let extra = 0;
    for (let i = 0; i < 256; i++) {
      const printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174;
      byteChars.push(String.fromCodePoint(printable ? i : 256 + extra++));
    }
  }
  return byteChars[b];
}

const byteLevel = (text: string) => [...Buffer.from(text, 'utf8')].map(byteLevelChar).join('');

// ---- which kind

const BYTE_TOKEN = /^<0x([0-9A-F]{2})>$/;

function preSteps(tok: Json): Json[] {
  const pre = tok.pre_tokenizer;
  if (!isObject(pre)) return [];
  return pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) ? pre.pretokenizers.filter(isObject) : [pre];
}

function isByteLevel(tok: Json): boolean {
  return preSteps(tok).some((s) => s.type === 'ByteLevel') || (isObject(tok.decoder) && tok.decoder.type === 'ByteLevel');
}

const isSpaceToMeta = (n: unknown) =>
  isObject(n) && n.type === 'Replace' && isObject(n.pattern) && n.pattern.String === ' ' && n.content === '\u2581';
const isPrependMeta = (n: unknown) => isObject(n) && n.type === 'Prepend' && n.prepend === '\u2581';

/** SentencePiece-style spacing: whether a "▁" is put before the text, or undefined when the tokenizer is not one. */
function sentencePiecePrefix(tok: Json): boolean | undefined {
  const norm = tok.normalizer;
  const steps = isObject(norm) && norm.type === 'Sequence' && Array.isArray(norm.normalizers) ? norm.normalizers : [norm];
  if (tok.pre_tokenizer == null && steps.length === 2 && isPrependMeta(steps[0]) && isSpaceToMeta(steps[1])) return true;
  if (tok.pre_tokenizer == null && steps.length === 1 && isSpaceToMeta(steps[0])) return false;
  const pre = tok.pre_tokenizer;
  if (norm == null && isObject(pre) && pre.type === 'Metaspace' && pre.replacement === '\u2581' && pre.split === false) {
    return pre.prepend_scheme !== undefined ? pre.prepend_scheme !== 'never' : pre.add_prefix_space !== false;
  }
  return undefined;
}

/** The known words of a world tokenizer (see the file comment), or undefined when `tok` is not one. */
function worldWords(tok: Json, model: Json): string[] | undefined {
  const steps = preSteps(tok);
  const regex = steps.length === 1 && steps[0].type === 'Split' && isObject(steps[0].pattern) ? steps[0].pattern.Regex : undefined;
  if (typeof regex !== 'string' || steps[0].behavior !== 'Isolated' || steps[0].invert === true) return undefined;
  if (model.ignore_merges !== true || model.byte_fallback !== true || (Array.isArray(model.merges) && model.merges.length > 0)) return undefined;
  if (tok.normalizer != null || !isObject(model.vocab)) return undefined;
  const added = new Set((Array.isArray(tok.added_tokens) ? tok.added_tokens : []).map((a) => (isObject(a) ? a.content : undefined)));
  const words: string[] = [];
  for (const t of Object.keys(model.vocab)) {
    if (added.has(t)) continue;
    if (/^[A-Za-z]{2,}$/.test(t)) words.push(t);
    else if (!/^ [A-Za-z]{2,}$/.test(t) && [...t].length !== 1 && !BYTE_TOKEN.test(t)) return undefined;
  }
  return regex === worldSplitRegex(words) ? words : undefined;
}

/** The kind of `tok`, or a ModelFormatError saying why llama.cpp cannot reproduce it. */
export function classifyTokenizer(file: string, tok: Json): GgufTokenizerKind {
  const model = tok.model as Json;
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new ModelFormatError(
      `${file}: field \`model.type\`: GGUF export supports BPE tokenizers (byte-level or SentencePiece-style), not ${brief(model.type)}`,
    );
  }
  if (isByteLevel(tok)) return 'byte-level';
  if (sentencePiecePrefix(tok) !== undefined) {
    if (model.byte_fallback !== true) {
      throw new ModelFormatError(
        `${file}: field \`model.byte_fallback\`: a SentencePiece-style tokenizer without byte fallback cannot be written: llama.cpp spells unknown characters as <0xNN> bytes where this tokenizer emits its unknown token`,
      );
    }
    return 'sentencepiece';
  }
  if (worldWords(tok, model)) return 'world-words';
  throw new ModelFormatError(
    `${file}: field \`pre_tokenizer\`: ${describePre(tok)} is neither byte-level BPE, SentencePiece-style nor the world tokenizer; llama.cpp has no pre-tokenizer that splits text this way, so the GGUF would tokenize differently`,
  );
}

// ---- the vocabulary

interface Vocab {
  /** Token text per id; a Uint8Array where the text is raw bytes that are not UTF-8 on their own. */
  tokens: (string | Uint8Array)[];
  types: number[];
}

/** Token strings and types in id order, padded to the model's vocabulary with unused `[PADi]` entries. */
function collectVocab(file: string, tok: Json, vocabSize: number): Vocab {
  const model = tok.model as Json;
  if (!isObject(model.vocab)) throw new ModelFormatError(`${file}: field \`model.vocab\`: not an object`);
  const tokens: (string | undefined)[] = new Array(vocabSize).fill(undefined);
  const types: number[] = new Array(vocabSize).fill(TOKEN_TYPE.UNUSED);
  const place = (content: string, id: unknown, type: number, field: string) => {
    if (!isTokenId(id)) throw new ModelFormatError(`${file}: field \`${field}\`: id ${brief(id)} is not a token id`);
    if (id >= vocabSize) {
      throw new ModelFormatError(`${file}: field \`${field}\`: token id ${id} is outside the model's vocabulary (${vocabSize})`);
    }
    tokens[id] = content;
    types[id] = type;
  };
  for (const [content, id] of Object.entries(model.vocab)) place(content, id, TOKEN_TYPE.NORMAL, `model.vocab["${content}"]`);
  const added = tok.added_tokens ?? [];
  if (!Array.isArray(added)) throw new ModelFormatError(`${file}: field \`added_tokens\`: not an array`);
  added.forEach((a, i) => {
    if (!isObject(a) || typeof a.content !== 'string') {
      throw new ModelFormatError(`${file}: field \`added_tokens[${i}]\`: expected {id, content, special}`);
    }
    place(a.content, a.id, a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED, `added_tokens[${i}]`);
  });
  return { tokens: tokens.map((t, i) => t ?? `[PAD${i}]`), types };
}

/** Merges as "a b" strings; pair-form parts have their spaces mapped to U+0120 as convert_hf_to_gguf.py does. */
export function mergeStrings(file: string, merges: unknown): string[] {
  if (merges === undefined) return [];
  if (!Array.isArray(merges)) throw new ModelFormatError(`${file}: field \`model.merges\`: not an array`);
  return merges.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((p) => typeof p === 'string')) {
      return m.map((p: string) => p.replaceAll(' ', '\u0120')).join(' ');
    }
    throw new ModelFormatError(`${file}: field \`model.merges[${i}]\`: expected "a b" or ["a", "b"], got ${brief(m)}`);
  });
}

// ---- the three kinds

/** `tokenizer.ggml.pre` for a byte-level tokenizer: the converter's fingerprint first, then the regex. */
function bytePre(file: string, dir: string, tok: Json): string {
  let hashed: string | undefined;
  try {
    hashed = preFromHash(preCheckHash(loadTokenizer(dir).encode(PRE_CHECK_TEXT)), tok);
  } catch {
    hashed = undefined; // a tokenizer our runtime cannot load is judged by its structure alone
  }
  const pre = hashed ?? preFromStructure(tok);
  if (pre === undefined) {
    throw new ModelFormatError(
      `${file}: field \`pre_tokenizer\`: ${describePre(tok)} matches none of llama.cpp's pre-tokenizers (by fingerprint or by regex), so llama.cpp would split text into different tokens`,
    );
  }
  return pre;
}

function byteLevelKeys(file: string, dir: string, tok: Json, vocabSize: number): Map<string, GgufValue> {
  const { tokens, types } = collectVocab(file, tok, vocabSize);
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: bytePre(file, dir, tok) }],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types }],
    ['tokenizer.ggml.merges', { type: 'array', of: 'string', value: mergeStrings(file, (tok.model as Json).merges) }],
  ]);
}

/** What each merge makes ("a b" or ["a", "b"] -> "ab"), in rank order. */
function mergeResults(file: string, merges: unknown): string[] {
  if (merges === undefined) return [];
  if (!Array.isArray(merges)) throw new ModelFormatError(`${file}: field \`model.merges\`: not an array`);
  return merges.map((m, i) => {
    if (typeof m === 'string' && m.indexOf(' ', 1) > 0) return m.slice(0, m.indexOf(' ', 1)) + m.slice(m.indexOf(' ', 1) + 1);
    if (Array.isArray(m) && m.length === 2 && m.every((p) => typeof p === 'string')) return m.join('');
    throw new ModelFormatError(`${file}: field \`model.merges[${i}]\`: expected "a b" or ["a", "b"], got ${brief(m)}`);
  });
}

/**
 * SentencePiece scores from BPE merges: minus the rank of the first merge that makes each token (llama.cpp merges
 * the highest score first, HF the lowest rank). Tokens no merge makes score below every merged one; single
 * characters, bytes and added tokens are never the result of a merge and score 0.
 */
export function sentencePieceScores(tokens: readonly (string | Uint8Array)[], types: readonly number[], merged: readonly string[]): Float32Array {
  const firstRank = new Map<string, number>();
  merged.forEach((text, rank) => {
    if (!firstRank.has(text)) firstRank.set(text, rank);
  });
  const scores = new Float32Array(tokens.length);
  tokens.forEach((t, id) => {
    if (typeof t !== 'string' || types[id] !== TOKEN_TYPE.NORMAL || [...t].length < 2) return;
    scores[id] = -(firstRank.get(t) ?? merged.length + id);
  });
  return scores;
}

function sentencePieceKeys(file: string, tok: Json, vocabSize: number): Map<string, GgufValue> {
  const model = tok.model as Json;
  const { tokens, types } = collectVocab(file, tok, vocabSize);
  tokens.forEach((t, id) => {
    if (typeof t !== 'string') return;
    if (t === model.unk_token) types[id] = TOKEN_TYPE.UNKNOWN;
    else if (types[id] === TOKEN_TYPE.NORMAL && BYTE_TOKEN.test(t)) types[id] = TOKEN_TYPE.BYTE;
  });
  const merged = mergeResults(file, model.merges);
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'default' }],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'array', of: 'f32', value: sentencePieceScores(tokens, types, merged) }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types }],
    ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: sentencePiecePrefix(tok)! }],
  ]);
}

/** One vocabulary entry of the world tokenizer as llama.cpp should hold it (see the file comment). */
function worldEntry(t: string, type: number): { text: string | Uint8Array; type: number } {
  if (type !== TOKEN_TYPE.NORMAL) return { text: t, type };
  const byte = BYTE_TOKEN.exec(t);
  if (byte) {
    const b = parseInt(byte[1], 16);
    // NUL cannot be a GGUF token text (llama.cpp reads token texts as C strings); it stays a byte-level character.
    if (b === 0) return { text: byteLevelChar(0), type };
    return { text: b < 0x80 ? String.fromCharCode(b) : Uint8Array.of(b), type: TOKEN_TYPE.USER_DEFINED };
  }
  if ([...t].length === 1 && !/[A-Za-z ]/.test(t)) return { text: t, type: TOKEN_TYPE.USER_DEFINED };
  return { text: byteLevel(t), type };
}

function worldKeys(file: string, tok: Json, vocabSize: number): Map<string, GgufValue> {
  const { tokens, types } = collectVocab(file, tok, vocabSize);
  tokens.forEach((t, id) => {
    if (typeof t !== 'string') return;
    const e = worldEntry(t, types[id]);
    tokens[id] = e.text;
    types[id] = e.type;
  });
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'llama-bpe' }],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types }],
    ['tokenizer.ggml.merges', { type: 'array', of: 'string', value: [] }],
  ]);
}

// ---- special ids, flags and chat templates (every kind)

/** The id of a special token named in tokenizer_config.json (`"<s>"` or `{"content": "<s>"}`). */
function specialTokenId(value: unknown, tok: Json): number | undefined {
  const content = isObject(value) ? value.content : value;
  if (typeof content !== 'string') return undefined;
  const added = Array.isArray(tok.added_tokens) ? tok.added_tokens : [];
  const hit = added.find((a) => isObject(a) && a.content === content) as Json | undefined;
  if (hit && isTokenId(hit.id)) return hit.id;
  const id = ((tok.model as Json).vocab as Json)[content];
  return isTokenId(id) ? id : undefined;
}

function chatTemplates(dir: string, tc: Json): Map<string, GgufValue> {
  const kv = new Map<string, GgufValue>();
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) kv.set('tokenizer.chat_template', { type: 'string', value: fs.readFileSync(jinja, 'utf8') });
  else if (typeof tc.chat_template === 'string') kv.set('tokenizer.chat_template', { type: 'string', value: tc.chat_template });
  else if (Array.isArray(tc.chat_template)) {
    for (const t of tc.chat_template) {
      if (!isObject(t) || typeof t.name !== 'string' || typeof t.template !== 'string') continue;
      const key = t.name === 'default' ? 'tokenizer.chat_template' : `tokenizer.chat_template.${t.name}`;
      kv.set(key, { type: 'string', value: t.template });
    }
  }
  return kv;
}

function specialKeys(tok: Json, tc: Json, cfg: LlamaConfig): Map<string, GgufValue> {
  const kv = new Map<string, GgufValue>();
  const fallback: Record<string, number | undefined> = { bos: cfg.bosTokenId, eos: cfg.eosTokenIds[0], pad: cfg.padTokenId };
  const keys: [string, string][] = [['bos', 'bos_token_id'], ['eos', 'eos_token_id'], ['unk', 'unknown_token_id'], ['pad', 'padding_token_id']];
  for (const [typ, key] of keys) {
    const id = specialTokenId(tc[`${typ}_token`], tok) ?? fallback[typ];
    if (id !== undefined && id < cfg.vocabSize) kv.set(`tokenizer.ggml.${key}`, { type: 'u32', value: id });
  }
  for (const typ of ['bos', 'eos']) {
    const add = tc[`add_${typ}_token`];
    if (typeof add === 'boolean') kv.set(`tokenizer.ggml.add_${typ}_token`, { type: 'bool', value: add });
  }
  return kv;
}

/**
 * Tokenizer keys from `<dir>/tokenizer.json` and `tokenizer_config.json`; empty when the folder has no
 * tokenizer.json. Special ids missing from tokenizer_config.json fall back to config.json's (`cfg`), as
 * convert_hf_to_gguf.py does. A tokenizer llama.cpp cannot reproduce is a ModelFormatError saying why.
 */
export function tokenizerMetadata(dir: string, cfg: LlamaConfig): Map<string, GgufValue> {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) return new Map();
  const tok = readJson(file);
  if (!isObject(tok) || !isObject(tok.model)) throw new ModelFormatError(`${file}: field \`model\`: missing or not an object`);
  const tcFile = path.join(dir, 'tokenizer_config.json');
  const tc = fs.existsSync(tcFile) ? readJson(tcFile) : {};
  if (!isObject(tc)) throw new ModelFormatError(`${tcFile}: not a JSON object`);
  const kind = classifyTokenizer(file, tok);
  const kv =
    kind === 'byte-level'
      ? byteLevelKeys(file, dir, tok, cfg.vocabSize)
      : kind === 'sentencepiece'
        ? sentencePieceKeys(file, tok, cfg.vocabSize)
        : worldKeys(file, tok, cfg.vocabSize);
  for (const [k, v] of [...specialKeys(tok, tc, cfg), ...chatTemplates(dir, tc)]) kv.set(k, v);
  return kv;
}
