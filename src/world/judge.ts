/**
 * Judge training targets: what the default model learns to write after the Box 3 prompt. Short on purpose (every
 * token costs CPU): a formulaic justification generated from the rubric criteria, then the calculation and score.
 *
 *   Task: add. Instruction well formed. Expected: 142. Response readable. Mostly right. Not fully correct.
 *   Concise. Style poor.
 *   <Calculation>1+1+1+1+0+1+0=5</Calculation>
 *   <Score>5</Score>
 *
 * The justification names the family first and, for a valid instruction, the expected answer: a short chain of
 * thought that lets the judge solve before it compares, instead of guessing whether an answer is right.
 */
import { CRITERION_PHRASES, EMPTY_RESPONSE_PHRASE, EXPECTED_PHRASE } from './phrases.ts';
import { rubric, type RubricResult } from './rubric.ts';

/** Options of {@link judgeCompletion}. */
export interface JudgeCompletionOptions {
  /** Write "Expected: <answer>." for valid instructions (default true). */
  showExpected?: boolean;
}

/** The one-line justification for rubric values: one formulaic sentence per criterion (see {@link judgeCompletion}). */
export function justification(r: RubricResult, response: string, opts: JudgeCompletionOptions = {}): string {
  const sentences = r.criteria.map((v, i) => CRITERION_PHRASES[i][v]);
  sentences[0] = sentences[0].replace('{family}', r.family ?? '');
  if (r.criteria[2] === 0 && response.trim() === '') sentences[2] = EMPTY_RESPONSE_PHRASE;
  if ((opts.showExpected ?? true) && r.reference !== undefined) {
    sentences.splice(2, 0, EXPECTED_PHRASE.replace('{answer}', r.reference));
  }
  return sentences.join(' ');
}

/** The `<Calculation>..</Calculation>` and `<Score>..</Score>` lines for criteria values. */
export function scoreLines(criteria: readonly number[]): string {
  const total = criteria.reduce((a, b) => a + b, 0);
  return `<Calculation>${criteria.join('+')}=${total}</Calculation>\n<Score>${total}</Score>`;
}

/** The judge's target output for one (instruction, response) pair: justification, calculation, score. */
export function judgeCompletion(instruction: string, response: string, opts: JudgeCompletionOptions = {}): string {
  const r = rubric(instruction, response);
  return `${justification(r, response, opts)}\n${scoreLines(r.criteria)}`;
}
