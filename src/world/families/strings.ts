/**
 * Letter-string families: reverse, uppercase, repeat. Content words come from the injected {@link WordSource}
 * (pronounceable, lowercase, never a prompt word), so every letter is its own token.
 */
import type { Rng } from '../../util/rng.ts';
import { pick } from '../random.ts';
import { charScore, corruptChars, corruptTokens, NATURAL_RE, tokenScore } from '../scoring.ts';
import type { FamilySpec, Slots, WordSource } from '../types.ts';
import { levelOfRange, sampleLevelRange } from './levels.ts';

/**
 * Reverse: word length per level (world v3, unchanged in v4). Pretraining uses levels 1-3 since world v4 (3..7 letters;
 * v3 stopped at 2 and the model was 0% on 7 letters): level 3 is the lightly trained frontier, 4 the first length past it.
 */
const REVERSE_LENGTHS = [[3, 4], [5, 6], [7, 7], [8, 8], [9, 9], [10, 10]] as const;

/**
 * Reverse the letters of a word: each output letter is fetched from a mirrored position. The default model learns
 * every trained length exactly and fails beyond it, so self-play's room is the lengths just past training.
 */
export const reverseFamily: FamilySpec = {
  name: 'reverse',
  task: 'reverse the letters of a word',
  templates: ['Reverse the word: {word}', 'Write the letters of {word} in reverse order.'],
  slotPatterns: { word: '[a-z]+' },
  answerPattern: /^[a-z]+$/,
  pretrainMaxLevel: 3,
  level: (s) => levelOfRange(s.word.length, REVERSE_LENGTHS, 'word length'),
  sample: (rng, d, word) => ({ word: word(sampleLevelRange(rng, REVERSE_LENGTHS, d)) }),
  sampleOutOfRange: (rng, word) => ({ word: pick(rng, [word(rng.int(11, 20)), word(rng.int(1, 2))]) }),
  solve: (s) => [...s.word].reverse().join(''),
  score: charScore,
  corrupt: corruptChars,
};

/**
 * Uppercase: total phrase length (letters and spaces) per level, and the number of words each level uses (world v3).
 * Pretraining uses levels 1-3 since world v4 (one word of 4-8 letters, two words of 9-14 characters, three words of
 * 15-18); levels 4-6 are longer three-word phrases.
 */
const UPPERCASE_LENGTHS = [[4, 8], [9, 14], [15, 18], [19, 22], [23, 26], [27, 30]] as const;
const UPPERCASE_WORDS = [1, 2, 3, 3, 3, 3] as const;

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
 * Write a phrase in capital letters. The quick family: a per-position letter map with no reordering. The default
 * model writes every trained shape exactly; three-word phrases past 18 characters (level 4 up) are past training.
 */
export const uppercaseFamily: FamilySpec = {
  name: 'uppercase',
  task: 'write a phrase in capital letters',
  templates: ['Write in capital letters: {phrase}', 'Uppercase this phrase: {phrase}'],
  slotPatterns: { phrase: '[a-z]+(?: [a-z]+)*' },
  answerPattern: /^[A-Z]+(?: [A-Z]+)*$/,
  pretrainMaxLevel: 3,
  level: (s: Slots) => {
    const words = s.phrase.split(' ');
    if (words.length > 3) return { reason: `${words.length} words; at most 3` };
    if (words.some((w) => w.length < 2)) return { reason: 'a word shorter than 2 letters' };
    return levelOfRange(s.phrase.length, UPPERCASE_LENGTHS, 'phrase length');
  },
  sample: (rng, d, word) => {
    return { phrase: samplePhrase(rng, word, sampleLevelRange(rng, UPPERCASE_LENGTHS, d), UPPERCASE_WORDS[d - 1]) };
  },
  sampleOutOfRange: (rng, word) => {
    const many = rng.int(4, 6);
    const phrase = rng.next() < 0.5 ? samplePhrase(rng, word, many * 4, many) : samplePhrase(rng, word, rng.int(31, 36), 3);
    return { phrase };
  },
  solve: (s) => s.phrase.toUpperCase(),
  score: charScore,
  corrupt: corruptChars,
};

/**
 * Repeat: copies per level (world v3) of a 2..4-letter word (2..3 letters from 6 copies: answers <= 35 characters).
 * Pretraining uses levels 1-3 since world v4 (2..6 copies); level 4 (7 copies) is the first count past training.
 */
const REPEAT_COUNTS = [[2, 3], [4, 5], [6, 6], [7, 7], [8, 8], [9, 9]] as const;
const repeatMaxWordLength = (n: number) => (n >= 6 ? 3 : 4);

/**
 * Repeat a word n times, separated by spaces. Copying is easy; stopping after exactly n copies is what a small
 * model gets wrong once n is past the counts it was trained on.
 */
export const repeatFamily: FamilySpec = {
  name: 'repeat',
  task: 'repeat a word several times',
  templates: ['Repeat the word {word} {n} times.', 'Write {word} {n} times.'],
  slotPatterns: { word: '[a-z]+', n: '[0-9]+' },
  answerPattern: /^[a-z]+(?: [a-z]+)*$/,
  pretrainMaxLevel: 3,
  level: (s) => {
    if (!NATURAL_RE.test(s.n)) return { reason: `count "${s.n}" has a leading zero` };
    const max = repeatMaxWordLength(Number(s.n));
    if (s.word.length < 2 || s.word.length > max) return { reason: `word length ${s.word.length} is outside 2..${max}` };
    return levelOfRange(Number(s.n), REPEAT_COUNTS, 'count');
  },
  sample: (rng, d, word) => {
    const n = sampleLevelRange(rng, REPEAT_COUNTS, d);
    return { word: word(rng.int(2, repeatMaxWordLength(n))), n: String(n) };
  },
  sampleOutOfRange: (rng, word) =>
    pick(rng, [
      { word: word(rng.int(2, 4)), n: String(pick(rng, [0, 1, rng.int(10, 30)])) },
      { word: word(rng.int(5, 9)), n: String(rng.int(2, 9)) },
      { word: word(rng.int(2, 4)), n: `0${rng.int(2, 9)}` },
    ]),
  solve: (s) => new Array<string>(Number(s.n)).fill(s.word).join(' '),
  score: tokenScore,
  corrupt: corruptTokens,
};
