/**
 * Letter-string families: reverse, uppercase, repeat. Content words come from the injected {@link WordSource}
 * (pronounceable, lowercase, never a prompt word), so every letter is its own token.
 */
import type { Rng } from '../../util/rng.ts';
import { pick } from '../random.ts';
import { charScore, corruptChars, corruptTokens, NATURAL_RE, tokenScore } from '../scoring.ts';
import type { FamilySpec, Slots, WordSource } from '../types.ts';
import { levelOfRange } from './levels.ts';

/**
 * Reverse: word length 5..16, two lengths per level. World v1 had 3..8 (one length per level): the default model
 * reversed every trained length exactly and none beyond, so levels 1-3 saturated; v2 puts longer words in range.
 */
const REVERSE_LENGTHS = [[5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]] as const;

/**
 * Reverse the letters of a word. Slow to learn: each output letter must be fetched from a mirrored position, and
 * the distance grows with the length. Expected for the ~5M default model: 5-8 letters mostly right, 9-12 letters
 * often one letter off (high partial credit), 13-16 letters (above pretraining) mostly wrong.
 */
export const reverseFamily: FamilySpec = {
  name: 'reverse',
  task: 'reverse the letters of a word',
  templates: ['Reverse the word: {word}', 'Write the letters of {word} in reverse order.'],
  slotPatterns: { word: '[a-z]+' },
  answerPattern: /^[a-z]+$/,
  level: (s) => levelOfRange(s.word.length, REVERSE_LENGTHS, 'word length'),
  sample: (rng, d, word) => ({ word: word(rng.int(REVERSE_LENGTHS[d - 1][0], REVERSE_LENGTHS[d - 1][1])) }),
  sampleOutOfRange: (rng, word) => ({ word: pick(rng, [word(rng.int(17, 24)), word(rng.int(1, 4))]) }),
  solve: (s) => [...s.word].reverse().join(''),
  score: charScore,
  corrupt: corruptChars,
};

/**
 * Uppercase: total phrase length (letters and spaces) per level, and the number of words each level uses. World v1
 * had 4..22 characters and the default model saturated levels 1-3 (up to 11 characters); v2 starts at 10.
 */
const UPPERCASE_LENGTHS = [[10, 13], [14, 17], [18, 21], [22, 25], [26, 29], [30, 34]] as const;
const UPPERCASE_WORDS = [2, 2, 3, 3, 4, 4] as const;
const UPPERCASE_MAX_WORDS = 4;

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
 * levels are longer than the other families' to keep it from saturating. Expected: two words of 10-17 characters
 * mostly right; three or four words of 22-34 characters clearly lower (dropped or doubled letters).
 */
export const uppercaseFamily: FamilySpec = {
  name: 'uppercase',
  task: 'write a phrase in capital letters',
  templates: ['Write in capital letters: {phrase}', 'Uppercase this phrase: {phrase}'],
  slotPatterns: { phrase: '[a-z]+(?: [a-z]+)*' },
  answerPattern: /^[A-Z]+(?: [A-Z]+)*$/,
  level: (s: Slots) => {
    const words = s.phrase.split(' ');
    if (words.length > UPPERCASE_MAX_WORDS) return { reason: `${words.length} words; at most ${UPPERCASE_MAX_WORDS}` };
    if (words.some((w) => w.length < 2)) return { reason: 'a word shorter than 2 letters' };
    return levelOfRange(s.phrase.length, UPPERCASE_LENGTHS, 'phrase length');
  },
  sample: (rng, d, word) => {
    const [lo, hi] = UPPERCASE_LENGTHS[d - 1];
    return { phrase: samplePhrase(rng, word, rng.int(lo, hi), UPPERCASE_WORDS[d - 1]) };
  },
  sampleOutOfRange: (rng, word) => {
    const many = rng.int(UPPERCASE_MAX_WORDS + 1, UPPERCASE_MAX_WORDS + 3);
    const phrase = pick(rng, [
      () => samplePhrase(rng, word, many * 4, many),
      () => samplePhrase(rng, word, rng.int(36, 44), UPPERCASE_MAX_WORDS),
      () => samplePhrase(rng, word, rng.int(4, 8), 1),
    ])();
    return { phrase };
  },
  solve: (s) => s.phrase.toUpperCase(),
  score: charScore,
  corrupt: corruptChars,
};

/**
 * Repeat: 3..14 copies, two counts per level, of a 2..4-letter word (2..3 letters from 9 copies: answers <= 55
 * characters). World v1 had 2..7 copies and the default model counted every trained n exactly (levels 1-3 saturated).
 */
const REPEAT_COUNTS = [[3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]] as const;
const repeatMaxWordLength = (n: number) => (n >= 9 ? 3 : 4);

/**
 * Repeat a word n times, separated by spaces. Copying is easy; stopping after exactly n copies is what a small
 * model gets wrong. Expected: n = 3..6 mostly right, n = 7..10 often one copy too many or few, more than 10 rarely right.
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
  sample: (rng, d, word) => {
    const n = rng.int(REPEAT_COUNTS[d - 1][0], REPEAT_COUNTS[d - 1][1]);
    return { word: word(rng.int(2, repeatMaxWordLength(n))), n: String(n) };
  },
  sampleOutOfRange: (rng, word) =>
    pick(rng, [
      { word: word(rng.int(2, 4)), n: String(pick(rng, [0, 1, 2, rng.int(15, 30)])) },
      { word: word(rng.int(5, 9)), n: String(rng.int(3, 8)) },
      { word: word(rng.int(2, 4)), n: `0${rng.int(3, 8)}` },
    ]),
  solve: (s) => new Array<string>(Number(s.n)).fill(s.word).join(' '),
  score: tokenScore,
  corrupt: corruptTokens,
};
