/**
 * The pretraining corpus: seeded training examples for the three roles, all built on the paper's prompt texts.
 *
 * - challenger: Box 1 filled with a family's task and one of its templates -> that template filled with an
 *   instance (difficulty uniform over the range; optionally an empty task/template -> any family's instance).
 * - solver: an instruction -> its reference answer.
 * - judge: Box 3 filled with an instruction and a response -> the rubric's justification, calculation and score.
 *   Instructions are invalid/noisy `judgeInvalidFraction` of the time (default 0.5, at least 0.4 is enforced);
 *   responses are correct, partly right, wrong, off-format, empty or echoes.
 *
 * Families are drawn by their pretraining weight (FamilySpec.pretrainWeight). No example contains an instance of
 * the held-out evaluation sets (`exclude`, by default the keys of data/world-eval-v4.jsonl and
 * data/world-eval-large-v4.jsonl).
 */
import { InputError } from '../errors.ts';
import { fillChallengerPrompt, fillJudgePrompt } from '../prompts/paper.ts';
import { Rng } from '../util/rng.ts';
import { evalInstanceKeys } from './evalset.ts';
import { judgeCompletion } from './judge.ts';
import { noisyInstruction, type NoiseKindWeights } from './noise.ts';
import { RESPONSE_WRAPPERS } from './phrases.ts';
import { chance, pick, pickWeighted } from './random.ts';
import { FAMILY_NAMES, MAX_DIFFICULTY, PRETRAIN_DIFFICULTY, type FamilyName, type Instance } from './types.ts';
import { classify, fillInstance, generateInstance, getFamily, phrase, pretrainRange, referenceAnswer } from './world.ts';

export { allPromptTexts } from './vocab.ts';

/** The three roles the default model plays. */
export type Role = 'challenger' | 'solver' | 'judge';

/** One training example: the user-turn text and the assistant-turn target. */
export interface TrainingExample {
  role: Role;
  prompt: string;
  completion: string;
  family?: FamilyName;
  difficulty?: number;
  /** Judge examples: whether the judged instruction is a valid instance. */
  valid?: boolean;
}

/** Corpus options; every field but `seed` has a default. */
export interface CorpusOptions {
  /** Seed of the whole stream: same seed and options, same examples. */
  seed: number;
  /** Relative weight of each role (default 1 each; a missing role has weight 0 when any weight is given). */
  roles?: Partial<Record<Role, number>>;
  /** Inclusive difficulty range of every family (default: each family's pretraining range, see pretrainRange). */
  difficulty?: readonly [number, number];
  /** Families to draw from (default all). */
  families?: readonly FamilyName[];
  /** Share of judge examples whose instruction is invalid or noisy (default 0.5; must be in [0.4, 1]). */
  judgeInvalidFraction?: number;
  /** Share of solver examples whose target is a slightly wrong answer (default 0: targets are the reference). */
  solverNoiseFraction?: number;
  /** Share of challenger examples with empty task and template (the paper's "None" case; default 0). */
  emptyChallengerFraction?: number;
  /** Relative weights of the kinds of invalid instruction in judge examples (default uniform). */
  noiseKindWeights?: NoiseKindWeights;
  /** Judge targets write "Expected: <answer>." for valid instructions (default true). */
  showExpected?: boolean;
  /** Instance keys never to emit (default: the evaluation file's). */
  exclude?: ReadonlySet<string>;
}

type Resolved = Required<Omit<CorpusOptions, 'difficulty' | 'noiseKindWeights'>> & Pick<CorpusOptions, 'difficulty' | 'noiseKindWeights'>;

function fraction(name: string, v: number, lo = 0): number {
  if (!(v >= lo && v <= 1)) throw new InputError(`corpus option ${name} must be in [${lo}, 1], got ${v}`);
  return v;
}

function resolve(opts: CorpusOptions): Resolved {
  const roles = opts.roles ?? { challenger: 1, solver: 1, judge: 1 };
  const sum = Object.values(roles).reduce((a, b) => a + (b ?? 0), 0);
  if (Object.values(roles).some((w) => !(w! >= 0)) || !(sum > 0)) {
    throw new InputError(`corpus option roles must be non-negative weights with a positive sum, got ${JSON.stringify(roles)}`);
  }
  const [lo, hi] = opts.difficulty ?? PRETRAIN_DIFFICULTY;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > MAX_DIFFICULTY || lo > hi) {
    throw new InputError(`corpus option difficulty must be integers 1 <= lo <= hi <= ${MAX_DIFFICULTY}, got [${lo}, ${hi}]`);
  }
  const families = opts.families ?? FAMILY_NAMES;
  if (families.length === 0) throw new InputError('corpus option families must not be empty');
  families.forEach(getFamily);
  return {
    seed: opts.seed,
    roles,
    difficulty: opts.difficulty ? [lo, hi] : undefined,
    families,
    judgeInvalidFraction: fraction('judgeInvalidFraction', opts.judgeInvalidFraction ?? 0.5, 0.4),
    solverNoiseFraction: fraction('solverNoiseFraction', opts.solverNoiseFraction ?? 0),
    emptyChallengerFraction: fraction('emptyChallengerFraction', opts.emptyChallengerFraction ?? 0),
    noiseKindWeights: opts.noiseKindWeights,
    showExpected: opts.showExpected ?? true,
    exclude: opts.exclude ?? evalInstanceKeys(),
  };
}

/** A family drawn with probability proportional to its pretraining weight (FamilySpec.pretrainWeight, default 1). */
export function pickFamily(rng: Rng, families: readonly FamilyName[]): FamilyName {
  return pickWeighted(rng, Object.fromEntries(families.map((f) => [f, getFamily(f).pretrainWeight ?? 1])) as Partial<Record<FamilyName, number>>);
}

function drawInstance(rng: Rng, o: Resolved, family?: FamilyName): Instance {
  const f = family ?? pickFamily(rng, o.families);
  const [lo, hi] = o.difficulty ?? pretrainRange(f);
  return generateInstance(rng, f, rng.int(lo, hi), { exclude: o.exclude });
}

/** `steps` corruptions of `answer` away from `reference` (see FamilySpec.corrupt). */
function corrupted(rng: Rng, family: FamilyName, reference: string, answer: string, steps: number): string {
  let a = answer;
  for (let i = 0; i < steps; i++) a = getFamily(family).corrupt(reference, a, rng);
  return a;
}

function challengerExample(rng: Rng, o: Resolved): TrainingExample {
  const instance = drawInstance(rng, o);
  const spec = getFamily(instance.family);
  const template = pick(rng, spec.templates);
  const empty = chance(rng, o.emptyChallengerFraction);
  const prompt = empty ? fillChallengerPrompt('', '') : fillChallengerPrompt(spec.task, template);
  const completion = fillInstance(template, instance);
  return { role: 'challenger', prompt, completion, family: instance.family, difficulty: instance.difficulty };
}

function solverExample(rng: Rng, o: Resolved): TrainingExample {
  const instance = drawInstance(rng, o);
  const reference = referenceAnswer(instance);
  const completion = chance(rng, o.solverNoiseFraction) ? corrupted(rng, instance.family, reference, reference, 1) : reference;
  return { role: 'solver', prompt: phrase(rng, instance), completion, family: instance.family, difficulty: instance.difficulty };
}

/** A response to a valid instance: right, partly right, wrong, off-format, empty or an echo. */
function responseTo(rng: Rng, o: Resolved, instance: Instance, instruction: string): string {
  const reference = referenceAnswer(instance);
  const wrap = (a: string) => pick(rng, RESPONSE_WRAPPERS).replace('{answer}', a);
  const kind = pickWeighted(rng, { correct: 30, partial: 25, wrong: 12, other: 10, offFormat: 13, empty: 5, echo: 5 });
  switch (kind) {
    case 'correct':
      return reference;
    case 'partial':
      return corrupted(rng, instance.family, reference, reference, rng.int(1, 2));
    case 'wrong':
      return corrupted(rng, instance.family, reference, reference, rng.int(3, 8));
    case 'other':
      return referenceAnswer(drawInstance(rng, o, instance.family));
    case 'offFormat':
      return wrap(chance(rng, 0.5) ? reference : corrupted(rng, instance.family, reference, reference, 1));
    case 'empty':
      return '';
    default:
      return chance(rng, 0.5) ? instruction : Object.values(instance.slots).join(' ');
  }
}

function judgeExample(rng: Rng, o: Resolved): TrainingExample {
  const invalid = chance(rng, o.judgeInvalidFraction);
  let instruction: string;
  let basis: Instance;
  if (invalid) {
    const noiseOpts = { families: o.families, difficulty: o.difficulty, exclude: o.exclude, kindWeights: o.noiseKindWeights };
    instruction = noisyInstruction(rng, undefined, noiseOpts).instruction;
    const near = classify(instruction);
    basis = drawInstance(rng, o, !near.valid && near.nearFamily ? near.nearFamily : undefined);
  } else {
    basis = drawInstance(rng, o);
    instruction = phrase(rng, basis);
  }
  const response = responseTo(rng, o, basis, instruction);
  const completion = judgeCompletion(instruction, response, { showExpected: o.showExpected });
  const ex: TrainingExample = { role: 'judge', prompt: fillJudgePrompt(instruction, response), completion, valid: !invalid };
  return invalid ? ex : { ...ex, family: basis.family, difficulty: basis.difficulty };
}

const MAKERS: Record<Role, (rng: Rng, o: Resolved) => TrainingExample> = {
  challenger: challengerExample,
  solver: solverExample,
  judge: judgeExample,
};

/** An endless, deterministic stream of training examples (roles drawn by weight). */
export function* corpusStream(opts: CorpusOptions): Generator<TrainingExample> {
  const o = resolve(opts);
  const rng = new Rng(o.seed);
  for (;;) yield MAKERS[pickWeighted(rng, o.roles)](rng, o);
}

/** The first `n` examples of {@link corpusStream}. */
export function makeCorpus(n: number, opts: CorpusOptions): TrainingExample[] {
  const stream = corpusStream(opts);
  return Array.from({ length: n }, () => stream.next().value as TrainingExample);
}
