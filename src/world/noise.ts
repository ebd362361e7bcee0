/**
 * Invalid, noisy and off-template instructions: judge training data (the judge must score them low) and stand-ins
 * for a drifting LSP-Zero challenger. Every generator's output is checked with `classify` and redrawn until it is
 * invalid, so a "noisy" label is always true.
 */
import { CHALLENGER_PROMPT } from '../prompts/paper.ts';
import type { Rng } from '../util/rng.ts';
import { LEAK_WRAPPERS } from './phrases.ts';
import { chance, pick, pickWeighted, randomString, shuffled } from './random.ts';
import { FAMILY_NAMES, type FamilyName } from './types.ts';
import { FAMILY_LIST, reservedWords } from './vocab.ts';
import { classify, generateInstance, getFamily, phrase, pretrainRange, referenceAnswer, type GenerateOptions } from './world.ts';
import { makeWordSource } from './words.ts';

/** The kinds of invalid instruction, each a failure a challenger can plausibly make. */
export const NOISE_KINDS = [
  'random-letters', // "qzt lkp 4m"
  'truncated', // "Sort in ascending ord"
  'wrong-content', // "What is lokem plus 12, 4?"
  'unfilled', // "Reverse the word: {word}"
  'duplicated', // "Add 3 and 4. Add 3 and 4."
  'empty-content', // "Reverse the word: "
  'out-of-range', // "Sort in ascending order: 5" / a 14-letter word to reverse
  'mixed-templates', // first half of one template, second half of another
  'answer-leak', // "Add 3 and 4. Answer: 7"
  'quoted', // "'Reverse the word: lokem'" or with [Start Generation] tags
  'garbled-template', // template words shuffled, dropped or miscased
  'prompt-echo', // a sentence of the challenger prompt, or the bare task name
  'empty', // ""
] as const;
/** One of {@link NOISE_KINDS}. */
export type NoiseKind = (typeof NOISE_KINDS)[number];

/** Relative weight of each kind of invalid instruction (a kind left out has weight 1). */
export type NoiseKindWeights = Readonly<Partial<Record<NoiseKind, number>>>;

/** Where noise draws its valid starting points from. */
export interface NoiseOptions extends GenerateOptions {
  families?: readonly FamilyName[];
  /** Inclusive difficulty range of the valid instances noise is derived from (default each family's pretraining range). */
  difficulty?: readonly [number, number];
  /** Relative weight of each kind when none is asked for (default uniform; a kind left out has weight 1). */
  kindWeights?: NoiseKindWeights;
}

interface Ctx {
  rng: Rng;
  opts: NoiseOptions;
}

function validInstance(ctx: Ctx) {
  const family = pick(ctx.rng, ctx.opts.families ?? FAMILY_NAMES);
  const [lo, hi] = ctx.opts.difficulty ?? pretrainRange(family);
  return generateInstance(ctx.rng, family, ctx.rng.int(lo, hi), ctx.opts);
}

function validInstruction(ctx: Ctx): string {
  return phrase(ctx.rng, validInstance(ctx));
}

function randomLetters({ rng }: Ctx): string {
  const n = rng.int(1, 6);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const words = Array.from({ length: n }, () => randomString(rng, chance(rng, 0.2) ? `${letters}0123456789` : letters, rng.int(1, 8)));
  const text = words.join(' ');
  return chance(rng, 0.3) ? text[0].toUpperCase() + text.slice(1) + pick(rng, ['?', '.', '!']) : text;
}

/** Slot contents of the wrong kind: numbers where a word belongs, words where numbers belong, symbols... */
function foreignValue(ctx: Ctx): string {
  const { rng } = ctx;
  const word = makeWordSource(rng, reservedWords());
  return pick(rng, [
    () => word(rng.int(3, 6)),
    () => `${rng.int(0, 99)}, ${rng.int(0, 99)}, ${rng.int(0, 99)}`,
    () => String(rng.int(0, 999)),
    () => `${word(rng.int(2, 4))} ${word(rng.int(2, 4))}`,
    () => word(rng.int(3, 6)).toUpperCase(),
    () => randomString(rng, 'abc123xyz', rng.int(2, 5)),
    () => pick(rng, ['?', '!!', '...', '-', '#']),
    () => word(rng.int(2, 4)) + String(rng.int(0, 9)),
  ])();
}

function fillWith(template: string, value: (name: string) => string): string {
  return template.replace(/\{([a-z]+)\}/g, (_m, name: string) => value(name));
}

function templateOf(ctx: Ctx): string {
  return pick(ctx.rng, getFamily(pick(ctx.rng, ctx.opts.families ?? FAMILY_NAMES)).templates);
}

function truncated(ctx: Ctx): string {
  const q = validInstruction(ctx);
  const cut = ctx.rng.int(1, q.length - 1);
  return chance(ctx.rng, 0.8) ? q.slice(0, cut) : q.slice(cut);
}

function unfilled(ctx: Ctx): string {
  const { rng } = ctx;
  const t = templateOf(ctx);
  const instance = validInstance(ctx);
  const odd = () => pick(rng, ['{}', '{ice cream flavor}', '{input}', '{word}', '{number}']);
  const content = (name: string) => instance.slots[name] ?? `{${name}}`;
  return fillWith(t, (name) => (chance(rng, 0.5) ? `{${name}}` : chance(rng, 0.5) ? odd() : content(name)));
}

function duplicated(ctx: Ctx): string {
  const { rng } = ctx;
  const q = validInstruction(ctx);
  if (chance(rng, 0.4)) return `${q} ${q}`;
  if (chance(rng, 0.5)) return `${q} ${validInstruction(ctx)}`;
  const words = q.split(' ');
  const i = rng.int(0, words.length - 1);
  words.splice(i, 0, words[i]);
  return words.join(' ');
}

function mixedTemplates(ctx: Ctx): string {
  const a = validInstruction(ctx).split(' ');
  const b = validInstruction(ctx).split(' ');
  return [...a.slice(0, ctx.rng.int(1, a.length)), ...b.slice(ctx.rng.int(0, b.length - 1))].join(' ');
}

function answerLeak(ctx: Ctx): string {
  const instance = validInstance(ctx);
  return phrase(ctx.rng, instance) + pick(ctx.rng, LEAK_WRAPPERS).replace('{answer}', referenceAnswer(instance));
}

function quoted(ctx: Ctx): string {
  const q = validInstruction(ctx);
  const wrapped = [`'${q}'`, `"${q}"`, `[Start Generation] ${q} [End Generation]`, `[Start Generation] '${q}'`, `${q} [End Generation]`];
  return pick(ctx.rng, wrapped);
}

function garbledTemplate(ctx: Ctx): string {
  const { rng } = ctx;
  const words = validInstruction(ctx).split(' ');
  const i = rng.int(0, words.length - 1);
  const move = rng.int(0, 3);
  if (move === 0) return shuffled(rng, words).join(' ');
  if (move === 1) return words.filter((_, j) => j !== i).join(' ');
  if (move === 2) words[0] = words[0].toLowerCase() === words[0] ? words[0].toUpperCase() : words[0].toLowerCase();
  else words[i] = randomString(rng, 'abcdefghijklmnopqrstuvwxyz', rng.int(2, 6));
  return words.join(' ');
}

function promptEcho(ctx: Ctx): string {
  const { rng } = ctx;
  const family = pick(rng, FAMILY_LIST);
  const sentences = CHALLENGER_PROMPT.split(/(?<=[.!?])\s+|\n+/).filter((s) => s.length > 0);
  return pick(rng, [
    () => pick(rng, sentences),
    () => family.task,
    () => `'${pick(rng, family.templates)}'`,
    () => `Generate an input for the language task '${family.task}'.`,
  ])();
}

const GENERATORS: Record<NoiseKind, (ctx: Ctx) => string> = {
  'random-letters': randomLetters,
  truncated,
  'wrong-content': (ctx) => fillWith(templateOf(ctx), () => foreignValue(ctx)),
  unfilled,
  duplicated,
  'empty-content': (ctx) => fillWith(templateOf(ctx), () => pick(ctx.rng, ['', ' ', '  '])),
  'out-of-range': (ctx) => {
    const family = getFamily(pick(ctx.rng, ctx.opts.families ?? FAMILY_NAMES));
    const slots = family.sampleOutOfRange(ctx.rng, makeWordSource(ctx.rng, reservedWords()));
    return fillWith(pick(ctx.rng, family.templates), (name) => slots[name] ?? '');
  },
  'mixed-templates': mixedTemplates,
  'answer-leak': answerLeak,
  quoted,
  'garbled-template': garbledTemplate,
  'prompt-echo': promptEcho,
  empty: (ctx) => pick(ctx.rng, ['', ' ', '\n']),
};

/** An invalid instruction of the given kind (random kind when omitted); redrawn until `classify` rejects it. */
export function noisyInstruction(rng: Rng, kind?: NoiseKind, opts: NoiseOptions = {}): { instruction: string; kind: NoiseKind } {
  const weights = opts.kindWeights;
  const weighted = (w: NonNullable<typeof weights>) => pickWeighted<NoiseKind>(rng, Object.fromEntries(NOISE_KINDS.map((n) => [n, w[n] ?? 1])));
  const k: NoiseKind = kind ?? (weights ? weighted(weights) : pick(rng, NOISE_KINDS));
  const ctx: Ctx = { rng, opts };
  for (let attempt = 0; attempt < 100; attempt++) {
    const instruction = GENERATORS[k](ctx);
    if (!classify(instruction).valid) return { instruction, kind: k };
  }
  return { instruction: randomLetters(ctx), kind: 'random-letters' };
}

/** One item of a labelled set of instructions. */
export interface LabeledInstruction {
  instruction: string;
  valid: boolean;
  family?: FamilyName;
  difficulty?: number;
  kind?: NoiseKind;
}

/** `n` instructions, half valid (families and difficulties uniform) and half invalid (kinds uniform), shuffled. */
export function balancedInstructions(rng: Rng, n: number, opts: NoiseOptions = {}): LabeledInstruction[] {
  const ctx: Ctx = { rng, opts };
  const items: LabeledInstruction[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      const instance = validInstance(ctx);
      items.push({ instruction: phrase(rng, instance), valid: true, family: instance.family, difficulty: instance.difficulty });
    } else {
      const { instruction, kind } = noisyInstruction(rng, NOISE_KINDS[(i >> 1) % NOISE_KINDS.length], opts);
      items.push({ instruction, valid: false, kind });
    }
  }
  return shuffled(rng, items);
}
