/**
 * Content words: pronounceable lowercase letter strings ("lokem", "tavira"), never English dictionary words.
 *
 * The default tokenizer makes every word of the fixed prompt texts a single token and spells everything else out
 * letter by letter. A content word that happened to equal a prompt word ("the", "word", "be") would arrive as one
 * opaque token, and the model could not reverse or count its letters; so words in a reserved set are redrawn.
 */
import type { Rng } from '../util/rng.ts';
import { pick } from './random.ts';
import type { WordSource } from './types.ts';

/** Consonants used in content words (no q, x, y: keeps words pronounceable and letters evenly spread). */
export const CONSONANTS = 'bdfghklmnprstvz';
/** Vowels used in content words. */
export const VOWELS = 'aeiou';

/** Lowercased words (runs of letters) of the given texts, e.g. to reserve every word of the prompts. */
export function wordsOf(texts: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const t of texts) for (const m of t.matchAll(/[A-Za-z]+/g)) out.add(m[0].toLowerCase());
  return out;
}

/**
 * A pronounceable word of exactly `length` letters: consonants and vowels alternate, starting with a consonant
 * three times in four. Not checked against any reserved set (see {@link makeWordSource}).
 */
export function syllableWord(rng: Rng, length: number): string {
  let consonant = rng.next() < 0.75;
  let w = '';
  for (let i = 0; i < length; i++) {
    w += consonant ? pick(rng, CONSONANTS.split('')) : pick(rng, VOWELS.split(''));
    consonant = !consonant;
  }
  return w;
}

/** A {@link WordSource} over `rng` that redraws any word in `reserved` (lowercase). */
export function makeWordSource(rng: Rng, reserved: ReadonlySet<string>): WordSource {
  return (length: number) => {
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`word length must be a positive integer, got ${length}`);
    for (let attempt = 0; attempt < 1000; attempt++) {
      const w = syllableWord(rng, length);
      if (!reserved.has(w)) return w;
    }
    throw new RangeError(`could not draw an unreserved word of length ${length}`);
  };
}
