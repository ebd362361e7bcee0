/**
 * The pre-tokenizer pattern of a known-words tokenizer (the world tokenizer of models/default): every known word is
 * one piece, everything else one character. It lives in model/ because both the world's tokenizer trainer and the
 * GGUF writer (which must recognise the pattern to describe it to llama.cpp) need the same string.
 */

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A known word (bounded by non-letters, optionally after one space) or else exactly one character. */
export function worldSplitRegex(words: readonly string[]): string {
  if (words.length === 0) return '[\\s\\S]';
  const longestFirst = [...words].sort((a, b) => b.length - a.length || byCodeUnit(a, b));
  const alt = `(?:${longestFirst.join('|')})`;
  return ` ${alt}(?![A-Za-z])|(?<![A-Za-z])${alt}(?![A-Za-z])|[\\s\\S]`;
}
