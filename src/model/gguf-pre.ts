/**
 * `tokenizer.ggml.pre` for a byte-level BPE tokenizer: which of llama.cpp's built-in pre-tokenizers (the regex
 * that splits text into words before the merges run) reproduces the HF tokenizer's.
 *
 * llama.cpp's converter (convert_hf_to_gguf.py, `get_vocab_base_pre`) decides by fingerprint: it encodes one fixed
 * check text with the HF tokenizer (special tokens added, as `tokenizer.encode` does), hashes the printed id list
 * with SHA-256, and looks the hash up in a table of known models. We do the same with our own tokenizer
 * (@huggingface/tokenizers gives the same ids as the Python library), with the table entries below. A tokenizer
 * whose hash is unknown (a fine-tune with extra tokens, a resized vocabulary) is then recognised by the structure of
 * its `pre_tokenizer` instead: a Split regex equal to one llama.cpp implements, or GPT-2's plain ByteLevel regex.
 *
 * One adjustment: llama.cpp's "smaug-bpe" is the Llama-3 regex WITHOUT `ignore_merges` (a word that is itself in
 * the vocabulary is not looked up whole before merging) and "llama-bpe" is the same regex with it. A Llama-3
 * tokenizer.json whose post-processor adds no BOS hashes to smaug-bpe; when the file says `ignore_merges: true` we
 * write llama-bpe, which is what the HF tokenizer does.
 */
import { createHash } from 'node:crypto';

/** The check text of llama.cpp's converter: whitespace runs, emoji, digits, CJK, Cyrillic, quotes, contractions. */
export const PRE_CHECK_TEXT =
  '\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\u{1F680} (normal) \u{1F636}\u200d\u{1F32B}\uFE0F (multiple emojis concatenated) ' +
  '\u2705 \u{1F999}\u{1F999} 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 ' +
  '\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785\u{1F601} ' +
  '?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e ------======= ' +
  '\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438 ' +
  "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, " +
  "'D you like some tea? We'Ve a'lL";

/** SHA-256 of the id list printed as Python prints a list: "[1, 2, 3]". */
export function preCheckHash(ids: readonly number[]): string {
  return createHash('sha256').update(`[${ids.join(', ')}]`).digest('hex');
}

/**
 * Known fingerprints -> llama.cpp pre-tokenizer names, from llama.cpp's convert_hf_to_gguf.py (each comment names
 * the model it was taken from). llama-bpe, smaug-bpe and qwen2 are re-derived in test/gguf-tokenizer.test.ts from
 * the real Llama-3 and Qwen3 tokenizer files.
 */
const KNOWN_HASHES: ReadonlyMap<string, string> = new Map([
  ['0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5', 'llama-bpe'], // Meta-Llama-3-8B
  ['c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d', 'smaug-bpe'], // Smaug-Llama-3-70B (Llama-3 without BOS)
  ['e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea', 'qwen2'], // Qwen1.5 / Qwen2.5 / Qwen3
  ['b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5', 'deepseek-r1-qwen'], // DeepSeek-R1-Distill-Qwen
  ['855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249', 'smollm'], // SmolLM-135M (SmolLM2 too)
  ['3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454', 'gpt-2'], // openai-community/gpt2
  ['35d91631860c815f952d711435f48d356ebac988362536bed955d43bfa436e34', 'starcoder'], // starcoder2-3b
  ['8aeee3860c56296a157a1fe2fad249ec40aa59b1bb5709f4ade11c4e6fe652ed', 'falcon'], // falcon-7b
  ['9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e', 'falcon3'], // Falcon3-7B-Base
  ['63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e', 'tekken'], // Mistral-Nemo-Base-2407
  ['fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085', 'phi-2'], // microsoft/phi-2
  ['32d85c31273f8019248f2559fed492d929ea28b17e51d81d3bb36fff23ca72b3', 'stablelm2'], // stablelm-2-zephyr-1_6b
  ['9c2227e4dd922002fb81bde4fc02b0483ca4f12911410dee2255e4987644e3f8', 'command-r'], // c4ai-command-r-v01
  ['049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754', 'deepseek-llm'], // deepseek-llm-7b-base
  ['347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821', 'deepseek-coder'], // deepseek-coder-6.7b-base
  ['877081d19cf6996e2c4ff0e1236341e9b7bde288f5311a56a937f0afbbb3aeb5', 'deepseek-v3'], // DeepSeek-V3
  ['ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e', 'gpt-4o'], // Xenova/gpt-4o
  ['d353350c764d8c3b39c763113960e4fb4919bea5fbf208a0e3b22e8469dc7406', 'llama4'], // Llama-4-Scout-17B-16E-Instruct
  ['0e9433cbbb161f89e264eb32e8e64bfe69e834973ffca5d41d3948a604a3e2a3', 'pixtral'], // pixtral-12b
  ['4e2b24cc4770243d65a2c9ec19770a72f08cffc161adbb73fcbb6b7dd45a0aae', 'exaone'], // EXAONE-3.0-7.8B-Instruct
]);

/** The Llama-3 pre-tokenizer regex as tokenizer.json files spell it (llama.cpp: llama-bpe / smaug-bpe / dbrx). */
export const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** Qwen2's: Llama-3's with single digits (llama.cpp: qwen2). */
export const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The pre-tokenizer steps of a tokenizer.json, a Sequence flattened. */
function preSteps(tok: Json): Json[] {
  const pre = tok.pre_tokenizer;
  if (!isObject(pre)) return [];
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers)) return pre.pretokenizers.filter(isObject);
  return [pre];
}

const splitRegexOf = (step: Json): string | undefined =>
  step.type === 'Split' && isObject(step.pattern) && typeof step.pattern.Regex === 'string' ? step.pattern.Regex : undefined;

/** A pre-tokenizer name from the tokenizer.json structure alone, or undefined when it matches none we know. */
export function preFromStructure(tok: Json): string | undefined {
  const steps = preSteps(tok);
  const ignoreMerges = isObject(tok.model) && tok.model.ignore_merges === true;
  const types = steps.map((s) => s.type).join(',');
  if (types === 'Split,ByteLevel' && steps[1].use_regex === false) {
    const regex = splitRegexOf(steps[0]);
    if (regex === LLAMA3_REGEX) return ignoreMerges ? 'llama-bpe' : 'smaug-bpe';
    if (regex === QWEN2_REGEX) return 'qwen2';
    return undefined;
  }
  if (types === 'ByteLevel' && steps[0].use_regex !== false) return 'gpt-2';
  if (types === 'Digits,ByteLevel' && steps[0].individual_digits === true && steps[1].use_regex !== false) return 'smollm';
  return undefined;
}

/** The name for a check-text fingerprint, adjusted for `ignore_merges` (see the file comment). */
export function preFromHash(hash: string, tok: Json): string | undefined {
  const name = KNOWN_HASHES.get(hash);
  const ignoreMerges = isObject(tok.model) && tok.model.ignore_merges === true;
  if (name === 'smaug-bpe' && ignoreMerges) return 'llama-bpe';
  return name;
}

/** A short description of the pre-tokenizer for error messages. */
export function describePre(tok: Json): string {
  const steps = preSteps(tok);
  if (steps.length === 0) return 'no pre_tokenizer';
  return steps
    .map((s) => {
      const regex = splitRegexOf(s);
      return regex === undefined ? String(s.type) : `Split(${regex.length > 60 ? `${regex.slice(0, 57)}...` : regex})`;
    })
    .join(' + ');
}
