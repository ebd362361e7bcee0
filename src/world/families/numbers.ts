/** Number families: sort, add, largest. Numbers are written as plain canonical digits (no leading zeros). */
import { pick } from '../random.ts';
import { corruptDigits, corruptTokens, digitScore, NATURAL_RE, tokenScore } from '../scoring.ts';
import type { FamilySpec, LevelCheck } from '../types.ts';
import { digitCount, parseNaturals, withDigits } from './levels.ts';

/** Sort: how many numbers each level lists and the largest value it allows (a list takes the first level that fits). */
const SORT_LEVELS = [
  { count: 3, max: 9 },
  { count: 3, max: 99 },
  { count: 4, max: 99 },
  { count: 5, max: 99 },
  { count: 6, max: 99 },
  { count: 7, max: 999 },
] as const;

function sortLevel(text: string): LevelCheck {
  const values = parseNaturals(text, ', ');
  if (!values) return { reason: 'a number has a leading zero' };
  if (values.length < 3) return { reason: `${values.length} numbers; at least 3` };
  const max = Math.max(...values);
  const i = SORT_LEVELS.findIndex((l) => values.length <= l.count && max <= l.max);
  if (i < 0) return { reason: `${values.length} numbers up to ${max}; at most 7 numbers up to 999` };
  return { difficulty: i + 1 };
}

/**
 * Sort numbers in ascending order; input "12, 7, 40", answer "7 12 40". Moderately slow: the model must find the
 * minimum repeatedly, comparing digit strings. Expected: 3 one-digit numbers mostly right (50-85% exact), 3-4
 * two-digit numbers 20-50%, 6-7 numbers (above pretraining) mostly partial credit.
 */
export const sortFamily: FamilySpec = {
  name: 'sort',
  task: 'sort numbers in ascending order',
  templates: ['Sort in ascending order: {numbers}', 'Sort these numbers from smallest to largest: {numbers}'],
  slotPatterns: { numbers: '[0-9]+(?:, [0-9]+)*' },
  answerPattern: /^[0-9]+(?: [0-9]+)*$/,
  level: (s) => sortLevel(s.numbers),
  sample: (rng, d) => {
    const { count, max } = SORT_LEVELS[d - 1];
    return { numbers: Array.from({ length: count }, () => rng.int(0, max)).join(', ') };
  },
  sampleOutOfRange: (rng) => {
    const list = (n: number, max: number) => Array.from({ length: n }, () => String(rng.int(0, max)));
    const choices = [
      list(rng.int(1, 2), 99), // too few
      list(rng.int(8, 12), 99), // too many
      [...list(3, 99), String(rng.int(1000, 99999))], // too large
      [...list(3, 99), `0${rng.int(0, 9)}`], // leading zero
    ];
    return { numbers: pick(rng, choices).join(', ') };
  },
  solve: (s) =>
    (parseNaturals(s.numbers, ', ') ?? [])
      .sort((a, b) => a - b)
      .join(' '),
  score: tokenScore,
  corrupt: corruptTokens,
};

/** Add: [most digits, fewest digits] of the two addends per level (a pair takes the first level that fits). */
const ADD_LEVELS = [
  [1, 1],
  [2, 1],
  [2, 2],
  [3, 2],
  [3, 3],
  [4, 4],
] as const;

function addLevel(a: string, b: string): LevelCheck {
  if (!NATURAL_RE.test(a) || !NATURAL_RE.test(b)) return { reason: 'an addend has a leading zero' };
  const da = digitCount(Number(a));
  const db = digitCount(Number(b));
  const [most, fewest] = [Math.max(da, db), Math.min(da, db)];
  const i = ADD_LEVELS.findIndex(([hi, lo]) => most <= hi && fewest <= lo);
  if (i < 0) return { reason: `${most}-digit addend; at most 4 digits` };
  return { difficulty: i + 1 };
}

/**
 * Add two numbers; answer "1523". Slow to learn left to right (carries come from the right). Expected: one-digit
 * sums largely right (memorised facts, those held out for evaluation aside), 2-digit + 1-digit 20-50% exact,
 * 3-4 digit sums mostly partial credit on the low digits.
 */
export const addFamily: FamilySpec = {
  name: 'add',
  task: 'add two numbers',
  templates: ['What is {a} plus {b}?', 'Add {a} and {b}.'],
  slotPatterns: { a: '[0-9]+', b: '[0-9]+' },
  answerPattern: NATURAL_RE,
  pretrainWeight: 2,
  level: (s) => addLevel(s.a, s.b),
  sample: (rng, d) => {
    const [hi, lo] = ADD_LEVELS[d - 1];
    const rand = (x: number, y: number) => rng.int(x, y);
    const pair = [String(withDigits(rand, hi)), String(withDigits(rand, lo))];
    if (rng.next() < 0.5) pair.reverse();
    return { a: pair[0], b: pair[1] };
  },
  sampleOutOfRange: (rng) =>
    pick(rng, [
      { a: String(rng.int(10000, 9999999)), b: String(rng.int(0, 99)) },
      { a: `0${rng.int(0, 99)}`, b: String(rng.int(0, 99)) },
    ]),
  solve: (s) => String(Number(s.a) + Number(s.b)),
  score: digitScore,
  corrupt: corruptDigits,
};

/**
 * Largest: how many numbers each level lists and the largest value it allows (a list takes the first level that
 * fits). Levels 1-4 are pretrained; 5-6 are longer lists of three-digit numbers.
 */
const LARGEST_LEVELS = [
  { count: 3, max: 99 },
  { count: 4, max: 99 },
  { count: 5, max: 99 },
  { count: 6, max: 999 },
  { count: 8, max: 999 },
  { count: 10, max: 999 },
] as const;

function largestLevel(text: string): LevelCheck {
  const values = parseNaturals(text, ', ');
  if (!values) return { reason: 'a number has a leading zero' };
  if (values.length < 3) return { reason: `${values.length} numbers; at least 3` };
  const max = Math.max(...values);
  const i = LARGEST_LEVELS.findIndex((l) => values.length <= l.count && max <= l.max);
  if (i < 0) return { reason: `${values.length} numbers up to ${max}; at most 10 numbers up to 999` };
  return { difficulty: i + 1 };
}

/**
 * The largest of a list of numbers; input "12, 7, 40", answer "40". Replaces world v3's count family, whose answers
 * (mostly 1) a model could guess. The procedure is the comparison sort already needs (sort's last number), and the
 * answer is one of 3-10 numbers of up to three digits, so a wrong comparison shows as a near miss, not a guess.
 * Expected: short lists mostly right, 6+ numbers with three digits partly right (the frontier).
 */
export const largestFamily: FamilySpec = {
  name: 'largest',
  task: 'find the largest of these numbers',
  templates: ['What is the largest of {numbers}?', 'Write the largest of these numbers: {numbers}'],
  slotPatterns: { numbers: '[0-9]+(?:, [0-9]+)*' },
  answerPattern: NATURAL_RE,
  pretrainWeight: 3,
  level: (s) => largestLevel(s.numbers),
  sample: (rng, d) => {
    const { count, max } = LARGEST_LEVELS[d - 1];
    return { numbers: Array.from({ length: count }, () => rng.int(0, max)).join(', ') };
  },
  sampleOutOfRange: (rng) => {
    const list = (n: number, max: number) => Array.from({ length: n }, () => String(rng.int(0, max)));
    const choices = [
      list(rng.int(1, 2), 99), // too few
      list(rng.int(11, 14), 99), // too many
      [...list(3, 99), String(rng.int(1000, 99999))], // too large
      [...list(3, 99), `0${rng.int(0, 9)}`], // leading zero
    ];
    return { numbers: pick(rng, choices).join(', ') };
  },
  solve: (s) => String(Math.max(...(parseNaturals(s.numbers, ', ') ?? [0]))),
  score: digitScore,
  corrupt: corruptDigits,
};
