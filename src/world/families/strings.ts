/**
 * Letter-string families: reverse, uppercase, repeat. Content words come from the injected {@link WordSource}
 * (pronounceable, lowercase, never a prompt word), so every letter is its own token.
 */
import type { Rng } from '../../util/rng.ts';
import { pick } from '../random.ts';
import { charScore, corruptChars, corruptTokens, NATURAL_RE, tokenScore } from '../scoring.ts';
import type { FamilySpec, Slots, WordSource } from '../types.ts';
import { levelOfRange } from './levels.ts';

/** Reverse: word length 3..8 at levels 1..6 (length = level + 2). */
const REVERSE_LENGTHS = [[3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [8, 8]] as const;

/**
 * Reverse the letters of a word. Slow to learn: each output letter must be fetched from a mirrored position.
 * Expected for the ~5M default model: 3-4 letters mostly right (40-80% exact), 5-6 letters rarely exact but
 * with high partial credit, 7-8 letters (above pretraining) mostly wrong.
 */
export const reverseFamily: FamilySpec = {
  name: 'reverse',
  task: 'reverse the letters of a word',
  templates: ['Reverse the word: {word}', 'Write the letters of {word} in reverse order.'],
  slotPatterns: { word: '[a-z]+' },
  answerPattern: /^[a-z]+$/,
  level: (s) => levelOfRange(s.word.length, REVERSE_LENGTHS, 'word length'),
  sample: (_rng, d, word) => ({ word: word(REVERSE_LENGTHS[d - 1][0]) }),
  sampleOutOfRange: (rng, word) => ({ word: pick(rng, [word(rng.int(9, 20)), word(rng.int(1, 2))]) }),
  solve: (s) => [...s.word].reverse().join(''),
  score: charScore,
  corrupt: corruptChars,
};

/** Uppercase: total phrase length (letters and spaces) per level, and the number of words each level uses. */
const UPPERCASE_LENGTHS = [[4, 5], [6, 8], [9, 11], [12, 14], [15, 18], [19, 22]] as const;
const UPPERCASE_WORDS = [1, 1, 2, 2, 3, 3] as const;

/** `total` letters split into `parts` word lengths, each at least 2. */
function splitLengths(rng: Rng, total: number, parts: number): number[] {
  const lengths = new Array<number>(parts).fill(2);
  for (let rest = total - 2 * parts; rest > 0; rest--) lengths[rng.int(0, parts - 1)]++;
  return lengths;
}

/** A phrase of `words` content words whose total length (with single spaces) is `length`. */
function samplePhrase(rng: Rng, word: WordSource, length: number, words: number): string {
  return splitLengths(rng, length - (words - 1), words)
    .map((n) => word(n))
    .join(' ');
}

/**
 * Write a phrase in capital letters. The quick family: a per-position letter map with no reordering, so the
 * levels are longer than the other families' to keep it from saturating. Expected: one word of 4-8 letters or two
 * words of 9-11 characters 60-90% exact; three words of 15-22 characters clearly lower (dropped or doubled letters).
 */
export const uppercaseFamily: FamilySpec = {
  name: 'uppercase',
  task: 'write a phrase in capital letters',
  templates: ['Write in capital letters: {phrase}', 'Uppercase this phrase: {phrase}'],
  slotPatterns: { phrase: '[a-z]+(?: [a-z]+)*' },
  answerPattern: /^[A-Z]+(?: [A-Z]+)*$/,
  level: (s: Slots) => {
    const words = s.phrase.split(' ');
    if (words.length > 3) return { reason: `${words.length} words; at most 3` };
    if (words.some((w) => w.length < 2)) return { reason: 'a word shorter than 2 letters' };
    return levelOfRange(s.phrase.length, UPPERCASE_LENGTHS, 'phrase length');
  },
  sample: (rng, d, word) => {
    const [lo, hi] = UPPERCASE_LENGTHS[d - 1];
    return { phrase: samplePhrase(rng, word, rng.int(lo, hi), UPPERCASE_WORDS[d - 1]) };
  },
  sampleOutOfRange: (rng, word) => {
    const many = rng.int(4, 6);
    const phrase = rng.next() < 0.5 ? samplePhrase(rng, word, many * 4, many) : samplePhrase(rng, word, rng.int(24, 32), 3);
    return { phrase };
  },
  solve: (s) => s.phrase.toUpperCase(),
  score: charScore,
  corrupt: corruptChars,
};

/** Repeat: n = level + 1 (2..7 copies) of a 2..4-letter word (2..3 letters from 6 copies: answers <= 27 characters). */
const REPEAT_COUNTS = [[2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7]] as const;
const repeatMaxWordLength = (n: number) => (n >= 6 ? 3 : 4);

/**
 * Repeat a word n times, separated by spaces. Copying is easy; stopping after exactly n copies is what a small
 * model gets wrong. Expected: n = 2..3 mostly right (50-90% exact), n = 6..7 often one copy too many or few.
 */
export const repeatFamily: FamilySpec = {
  name: 'repeat',
  task: 'repeat a word several times',
  templates: ['Repeat the word {word} {n} times.', 'Write {word} {n} times.'],
  slotPatterns: { word: '[a-z]+', n: '[0-9]+' },
  answerPattern: /^[a-z]+(?: [a-z]+)*$/,
  level: (s) => {
    if (!NATURAL_RE.test(s.n)) return { reason: `count "${s.n}" has a leading zero` };
    const max = repeatMaxWordLength(Number(s.n));
    if (s.word.length < 2 || s.word.length > max) return { reason: `word length ${s.word.length} is outside 2..${max}` };
    return levelOfRange(Number(s.n), REPEAT_COUNTS, 'count');
  },
  sample: (rng, d, word) => ({ word: word(rng.int(2, repeatMaxWordLength(d + 1))), n: String(d + 1) }),
  sampleOutOfRange: (rng, word) =>
    pick(rng, [
      { word: word(rng.int(2, 4)), n: String(pick(rng, [0, 1, rng.int(8, 30)])) },
      { word: word(rng.int(5, 9)), n: String(rng.int(2, 7)) },
      { word: word(rng.int(2, 4)), n: `0${rng.int(2, 7)}` },
    ]),
  solve: (s) => new Array<string>(Number(s.n)).fill(s.word).join(' '),
  score: tokenScore,
  corrupt: corruptTokens,
};
