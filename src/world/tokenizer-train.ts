/**
 * The default model's tokenizer: a word/character hybrid, written as an ordinary HF `tokenizer.json`.
 *
 * - Known words (every word of the fixed prompt texts, plus words seen >= `minCount` times in the corpus) are ONE
 *   token each, both bare ("task") and with the space before them (" task"), so the long Box 1 / Box 3 prompts cost
 *   few tokens.
 * - Everything else is one token per character: letters, digits, punctuation, space, "\n", "\t". A word is "known"
 *   only when the WHOLE run of letters equals it: content such as "lokex", "thenx" or "4821" is always spelled out
 *   character by character, so the model sees the letters it must reverse, sort or count.
 * - Any other character falls back to its UTF-8 bytes (`<0xNN>` tokens), so every string round-trips exactly.
 *
 * How it is expressed in tokenizer.json (checked against @huggingface/tokenizers, see test/tokenizer.test.ts):
 * a `Split` pre-tokenizer whose regex isolates either a known word (with or without one leading space, bounded by
 * non-letters) or a single character; a `BPE` model with no merges and `ignore_merges: true` (a pre-token that is
 * in the vocabulary maps to its one token; a single character maps to itself or, with `byte_fallback`, to bytes);
 * a `ByteFallback` + `Fuse` decoder, so decode(encode(x)) === x. No normalizer, no post-processor (no BOS added).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { worldSplitRegex } from '../model/word-split.ts';

export const PAD_TOKEN = '<|pad|>';
export const BOS_TOKEN = '<|bos|>';
export const EOS_TOKEN = '<|eos|>';
export const IM_START_TOKEN = '<|im_start|>';
export const IM_END_TOKEN = '<|im_end|>';
/** Special tokens in id order (ids 0..4). `<|im_end|>` ends an assistant turn and is the tokenizer's eos_token. */
export const SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, IM_START_TOKEN, IM_END_TOKEN] as const;

/**
 * ChatML, short: `<|im_start|>user\n{content}<|im_end|>\n`, then `<|im_start|>assistant\n` as the generation prompt.
 * Five tokens of overhead per message ("user"/"assistant"/"system" are known words).
 */
export const WORLD_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface WorldTokenizerOptions {
  /** Texts whose every word becomes a token whatever its count: the fixed prompt texts (Box 1, Box 3, templates). */
  fixedTexts?: string[];
  /** Words that must be tokens (default: the chat roles user, assistant, system). */
  extraWords?: string[];
  /** A corpus word becomes a token when it occurs at least this often in `texts` (default 20). */
  minCount?: number;
  /** Cap on known words; fixed/extra words always count, corpus words fill the rest by frequency (default 400). */
  maxWords?: number;
  /** Shortest word given its own token, at least 2 (single letters are character tokens already; default 2). */
  minWordLength?: number;
}

/** What {@link trainWorldTokenizer} produces; write it with {@link writeTokenizerFiles}. */
export interface WorldTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  /** The known words, sorted. */
  words: string[];
}

/** Single-character tokens: tab, newline and printable ASCII. */
const CHAR_TOKENS = ['\t', '\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];
const WORD_RE = /[A-Za-z]+/g;

function countWords(texts: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of texts) for (const m of t.matchAll(WORD_RE)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  return counts;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Fixed and extra words first, then corpus words with count >= minCount, most frequent first, up to maxWords. */
function chooseWords(texts: readonly string[], opts: WorldTokenizerOptions): string[] {
  const minLen = opts.minWordLength ?? 2;
  const maxWords = opts.maxWords ?? 400;
  const minCount = opts.minCount ?? 20;
  if (!Number.isInteger(minLen) || minLen < 2) throw new InputError(`tokenizer option minWordLength must be an integer >= 2, got ${minLen}`);
  for (const w of opts.extraWords ?? []) {
    if (!/^[A-Za-z]+$/.test(w)) throw new InputError(`tokenizer option extraWords: "${w}" is not a run of ASCII letters`);
  }
  const chosen = new Set<string>();
  for (const w of [...countWords(opts.fixedTexts ?? []).keys(), ...(opts.extraWords ?? ['user', 'assistant', 'system'])]) {
    if (w.length >= minLen) chosen.add(w);
  }
  if (chosen.size > maxWords) {
    throw new InputError(`tokenizer option maxWords (${maxWords}) is below the ${chosen.size} words of the fixed texts`);
  }
  const frequent = [...countWords(texts)]
    .filter(([w, n]) => n >= minCount && w.length >= minLen && !chosen.has(w))
    .sort(([a, n], [b, m]) => m - n || byCodeUnit(a, b));
  for (const [w] of frequent) {
    if (chosen.size >= maxWords) break;
    chosen.add(w);
  }
  return [...chosen].sort(byCodeUnit);
}

const byteToken = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** Vocabulary in id order: special tokens, characters, byte fallbacks (bytes not already a character), words. */
function buildVocab(words: readonly string[]): Record<string, number> {
  const entries: string[] = [...SPECIAL_TOKENS, ...CHAR_TOKENS];
  const charBytes = new Set(CHAR_TOKENS.map((c) => c.charCodeAt(0)));
  for (let b = 0; b < 256; b++) if (!charBytes.has(b)) entries.push(byteToken(b));
  for (const w of words) entries.push(w, ` ${w}`);
  return Object.fromEntries(entries.map((tok, id) => [tok, id]));
}

function addedToken(content: string, id: number) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/**
 * Builds the world tokenizer from the corpus `texts` (for word counts) and `opts.fixedTexts` (every word kept).
 * Deterministic: the same inputs give byte-identical files.
 */
export function trainWorldTokenizer(texts: readonly string[], opts: WorldTokenizerOptions = {}): WorldTokenizer {
  const words = chooseWords(texts, opts);
  const vocab = buildVocab(words);
  const tokenizerJson: Record<string, unknown> = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => addedToken(t, i)),
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: worldSplitRegex(words) }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: true,
      ignore_merges: true,
      vocab,
      merges: [],
    },
  };
  const special = { bos_token: BOS_TOKEN, eos_token: IM_END_TOKEN, pad_token: PAD_TOKEN };
  const additional = [EOS_TOKEN, IM_START_TOKEN, IM_END_TOKEN];
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    ...special,
    unk_token: null,
    additional_special_tokens: additional,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    split_special_tokens: false,
    model_max_length: 4096,
    added_tokens_decoder: Object.fromEntries(SPECIAL_TOKENS.map((t, i) => [String(i), addedToken(t, i)])),
    chat_template: WORLD_CHAT_TEMPLATE,
  };
  return { tokenizerJson, tokenizerConfig, specialTokensMap: { ...special, additional_special_tokens: additional }, words };
}

/** Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir`, each atomically. */
export function writeTokenizerFiles(dir: string, result: WorldTokenizer): void {
  fs.mkdirSync(dir, { recursive: true });
  const files: [string, unknown][] = [
    ['tokenizer.json', result.tokenizerJson],
    ['tokenizer_config.json', result.tokenizerConfig],
    ['special_tokens_map.json', result.specialTokensMap],
  ];
  for (const [name, value] of files) writeFileAtomic(path.join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
}
