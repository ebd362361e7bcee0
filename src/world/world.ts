/**
 * The world's generic machinery over the family registry: generating instances, filling templates, parsing an
 * instruction back (strictly), classifying any text, and R(q, a), the reward.
 */
import { InputError } from '../errors.ts';
import type { Rng } from '../util/rng.ts';
import { pick } from './random.ts';
import { compileLoose, compileStrict, fillTemplate, matchTemplate, type CompiledTemplate } from './template.ts';
import { FAMILIES, FAMILY_LIST, reservedWords } from './vocab.ts';
import { MAX_DIFFICULTY, PRETRAIN_DIFFICULTY, type FamilyName, type FamilySpec, type Instance, type Slots } from './types.ts';
import { makeWordSource } from './words.ts';

/** The family declaration for a name; throws InputError for an unknown name. */
export function getFamily(name: string): FamilySpec {
  const f = (FAMILIES as Record<string, FamilySpec | undefined>)[name];
  if (!f) throw new InputError(`unknown task family "${name}"; known: ${Object.keys(FAMILIES).join(', ')}`);
  return f;
}

/** The inclusive difficulty range the pretraining corpus draws `family` from by default. */
export function pretrainRange(family: FamilyName): readonly [number, number] {
  const max = getFamily(family).pretrainMaxLevel ?? PRETRAIN_DIFFICULTY[1];
  return [PRETRAIN_DIFFICULTY[0], Math.min(max, PRETRAIN_DIFFICULTY[1])];
}

/** A stable identity for an instance, independent of the template used to phrase it. */
export function instanceKey(instance: Instance): string {
  return `${instance.family}|${fillTemplate(getFamily(instance.family).templates[0], instance.slots)}`;
}

/** Options of {@link generateInstance}. */
export interface GenerateOptions {
  /** Instance keys ({@link instanceKey}) never to return, e.g. the held-out evaluation set. */
  exclude?: ReadonlySet<string>;
}

/**
 * A seeded instance of `family` at exactly `difficulty` (1..MAX_DIFFICULTY): draws slot contents until the
 * family's own level check agrees and the instance is not excluded.
 */
export function generateInstance(rng: Rng, family: FamilyName, difficulty: number, opts: GenerateOptions = {}): Instance {
  if (!Number.isInteger(difficulty) || difficulty < 1 || difficulty > MAX_DIFFICULTY) {
    throw new InputError(`difficulty must be an integer in 1..${MAX_DIFFICULTY}, got ${difficulty}`);
  }
  const spec = getFamily(family);
  const word = makeWordSource(rng, reservedWords());
  for (let attempt = 0; attempt < 10000; attempt++) {
    const slots = spec.sample(rng, difficulty, word);
    const check = spec.level(slots);
    if (!('difficulty' in check) || check.difficulty !== difficulty) continue;
    const instance: Instance = { family, slots, difficulty };
    if (opts.exclude?.has(instanceKey(instance))) continue;
    return instance;
  }
  throw new InputError(`could not generate a ${family} instance at difficulty ${difficulty}`);
}

/** The instruction text: `template` (one of the family's) filled with the instance's slots. */
export function fillInstance(template: string, instance: Instance): string {
  return fillTemplate(template, instance.slots);
}

/** The instance phrased with a randomly chosen template of its family. */
export function phrase(rng: Rng, instance: Instance): string {
  return fillInstance(pick(rng, getFamily(instance.family).templates), instance);
}

/** The reference answer. */
export function referenceAnswer(instance: Instance): string {
  return getFamily(instance.family).solve(instance.slots);
}

/** The verifier: partial credit in [0,1], 1 only for the exact reference; surrounding whitespace is ignored. */
export function scoreAnswer(instance: Instance, answer: string): number {
  const spec = getFamily(instance.family);
  return spec.score(spec.solve(instance.slots), answer.trim());
}

interface Compiled {
  family: FamilySpec;
  strict: CompiledTemplate;
  loose: CompiledTemplate;
}

let compiled: Compiled[] | undefined;
function compiledTemplates(): Compiled[] {
  compiled ??= FAMILY_LIST.flatMap((family) =>
    family.templates.map((t) => ({ family, strict: compileStrict(t, family.slotPatterns), loose: compileLoose(t) })),
  );
  return compiled;
}

/** A parsed instruction: the instance and the template it followed. */
export interface ParsedInstruction {
  valid: true;
  family: FamilyName;
  instance: Instance;
  difficulty: number;
  template: string;
}

/** An instruction that is not a valid instance of any family; `nearFamily` when a template skeleton is recognisable. */
export interface InvalidInstruction {
  valid: false;
  reason: string;
  nearFamily?: FamilyName;
}

/** Either verdict of {@link classify}. */
export type Classification = ParsedInstruction | InvalidInstruction;

/**
 * Classifies any text. Valid = (after trimming) exactly one of the templates with every slot matching its pattern
 * and the content within the family's levels 1..MAX_DIFFICULTY. Otherwise invalid, with a reason, and with
 * `nearFamily` when the template's literal words are there but the content is wrong, missing or out of range.
 */
export function classify(instruction: string): Classification {
  let rangeReason: InvalidInstruction | undefined;
  for (const c of compiledTemplates()) {
    const slots: Slots | null = matchTemplate(c.strict, instruction);
    if (!slots) continue;
    const check = c.family.level(slots);
    if ('difficulty' in check) {
      const instance: Instance = { family: c.family.name, slots, difficulty: check.difficulty };
      return { valid: true, family: c.family.name, instance, difficulty: check.difficulty, template: c.strict.template };
    }
    rangeReason ??= { valid: false, reason: `${c.family.name}: ${check.reason}`, nearFamily: c.family.name };
  }
  if (rangeReason) return rangeReason;
  const near = nearFamily(instruction);
  if (near) return { valid: false, reason: `${near}: content does not fit the template`, nearFamily: near };
  return { valid: false, reason: 'matches no task template' };
}

/** The family whose template skeleton (literal words in order, any slot content) the text follows, if any. */
export function nearFamily(instruction: string): FamilyName | undefined {
  return compiledTemplates().find((c) => matchTemplate(c.loose, instruction) !== null)?.family.name;
}

/** Parses an instruction as an instance of one given family (strict), or explains why not. */
export function parseInstruction(family: FamilyName, instruction: string): Classification {
  const c = classify(instruction);
  if (c.valid && c.family !== family) {
    return { valid: false, reason: `an instance of ${c.family}, not ${family}`, nearFamily: c.family };
  }
  return c;
}

/** R(q, a): the verifier's score when `instruction` is a valid instance of any family, else 0. */
export function reward(instruction: string, answer: string): number {
  const c = classify(instruction);
  return c.valid ? scoreAnswer(c.instance, answer) : 0;
}
