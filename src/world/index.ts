/**
 * The embedded world: six synthetic task families, the reward R(q, a), the rule-based Box 3 rubric, judge targets,
 * noise, the pretraining corpus and the held-out evaluation set. See docs/world.md.
 */
export { FAMILY_NAMES, MAX_DIFFICULTY, PRETRAIN_DIFFICULTY, EASY_MAX } from './types.ts';
export type { FamilyName, FamilySpec, Instance, Slots } from './types.ts';
export { FAMILIES, FAMILY_LIST, allPromptTexts, reservedWords } from './vocab.ts';
export {
  classify,
  fillInstance,
  generateInstance,
  getFamily,
  instanceKey,
  nearFamily,
  parseInstruction,
  phrase,
  referenceAnswer,
  reward,
  scoreAnswer,
} from './world.ts';
export type { Classification, ParsedInstruction, InvalidInstruction, GenerateOptions } from './world.ts';
export { rubric, isReadable, type RubricResult } from './rubric.ts';
export { judgeCompletion, justification, scoreLines } from './judge.ts';
export { NOISE_KINDS, noisyInstruction, balancedInstructions } from './noise.ts';
export type { NoiseKind, LabeledInstruction, NoiseOptions } from './noise.ts';
export { corpusStream, makeCorpus } from './corpus.ts';
export type { Role, TrainingExample, CorpusOptions } from './corpus.ts';
export { EVAL_SET_PATH, EVAL_SEED, loadEvalSet, makeEvalSet, evalInstanceKeys } from './evalset.ts';
export type { EvalItem } from './evalset.ts';
