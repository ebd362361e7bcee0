/**
 * The shapes shared by the embedded world: a task family's declaration and the task instances it generates.
 *
 * An instance is the content of a template's placeholders ("slots", always strings, exactly as they appear in the
 * instruction) plus the family and difficulty they belong to; every family-specific fact (answer, difficulty,
 * validity) is a pure function of the slots.
 */
import type { Rng } from '../util/rng.ts';

/** The six task families, in registry order. */
export const FAMILY_NAMES = ['reverse', 'uppercase', 'repeat', 'sort', 'add', 'largest'] as const;
/** One of {@link FAMILY_NAMES}. */
export type FamilyName = (typeof FAMILY_NAMES)[number];

/** Highest difficulty level of every family (levels are 1..MAX_DIFFICULTY). */
export const MAX_DIFFICULTY = 6;
/**
 * Difficulty range the pretraining corpus uses by default; levels above it exist for evaluation. A family may stop
 * earlier ({@link FamilySpec.pretrainMaxLevel}).
 */
export const PRETRAIN_DIFFICULTY: readonly [number, number] = [1, 4];
/** Evaluation split: levels <= EASY_MAX are "easy", the rest "hard". */
export const EASY_MAX = 3;

/** Placeholder name -> content, e.g. `{ word: 'lokem' }`. */
export type Slots = Readonly<Record<string, string>>;

/** One task instance: a family, its slot contents and their difficulty. */
export interface Instance {
  family: FamilyName;
  slots: Slots;
  difficulty: number;
}

/** Makes a pronounceable lowercase content word of exactly `length` letters (never a reserved prompt word). */
export type WordSource = (length: number) => string;

/** A family's verdict on slot contents: their difficulty level, or why they are out of range. */
export type LevelCheck = { difficulty: number } | { reason: string };

/** Everything that defines one task family. Generic machinery (fill, parse, generate) lives in world.ts. */
export interface FamilySpec {
  readonly name: FamilyName;
  /** The `{task}` of the challenger prompt, e.g. "reverse the letters of a word". */
  readonly task: string;
  /** Templates with `{slot}` placeholders; each slot appears at most once per template. */
  readonly templates: readonly string[];
  /** For each slot, the regex source (no capture groups) its content must match in a strict parse. */
  readonly slotPatterns: Readonly<Record<string, string>>;
  /** The shape of a well-formed answer (no extra text), e.g. /^[a-z]+$/. */
  readonly answerPattern: RegExp;
  /**
   * Highest level the pretraining corpus uses for this family (default PRETRAIN_DIFFICULTY[1]). The copy-like
   * string families stop at 2: a small model learns every length it is trained on exactly, so their easy half
   * (levels 1..EASY_MAX) reaches one level past training, where self-play has somewhere to go.
   */
  readonly pretrainMaxLevel?: number;
  /**
   * Relative weight of the family in the pretraining corpus's draws (default 1): families a model is still learning
   * (largest, new in world v4; add, whose units digit the v3 model guessed) are drawn more often.
   */
  readonly pretrainWeight?: number;
  /** Difficulty of slot contents, or the reason they are out of range (values beyond level MAX_DIFFICULTY). */
  level(slots: Slots): LevelCheck;
  /** Slot contents at one difficulty level (may be rejected and redrawn when `level` disagrees). */
  sample(rng: Rng, difficulty: number, word: WordSource): Record<string, string>;
  /** Slot contents of the right kinds but out of range (too long, too many, leading zeros...), for noise. */
  sampleOutOfRange(rng: Rng, word: WordSource): Record<string, string>;
  /** The reference answer. */
  solve(slots: Slots): string;
  /** Verifier: 1 only for the exact reference, partial credit in [0,1) otherwise, monotone in closeness. */
  score(reference: string, answer: string): number;
  /** An answer one step further from the reference than `answer` (its score never goes up). */
  corrupt(reference: string, answer: string, rng: Rng): string;
}
