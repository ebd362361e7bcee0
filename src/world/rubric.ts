/**
 * The paper's seven Box 3 criteria, computed by rules on the world. They label the judge's training data, and
 * stand in for a perfect judge in evaluation. Each criterion is 0 or 1; the total is their sum (0..7).
 *
 * | # | Box 3 criterion                                   | rule                                                      |
 * |---|---------------------------------------------------|-----------------------------------------------------------|
 * | 1 | task clearly identifiable from the instruction    | parses as a family, or a family's template skeleton (its literal words in order) is recognisable |
 * | 2 | instruction clear, specific, well-structured      | parses exactly (strict template, content in range)         |
 * | 3 | user will be able to understand the response      | response non-empty, one line, printable ASCII, <= 60 chars  |
 * | 4 | addresses a significant portion                   | instruction valid and verifier score >= 0.5                |
 * | 5 | usefully and comprehensively answers the core     | instruction valid and verifier score == 1 (exact answer)   |
 * | 6 | clearly written, concise, well-organised, helpful | instruction valid, response in the family's answer format (no extra text), at most twice the reference's length |
 * | 7 | user will like the form and style                 | criteria 5 and 6: the exact answer, formatted like the reference |
 *
 * Criteria 4-7 need a valid instruction: a malformed request has no right answer, so no response to it can be
 * helpful. Consequences the judge must learn: an invalid or noisy instruction totals at most 2 (criteria 1 and
 * 3), a valid one with the exact answer totals 7, a valid one with a wrong answer lands in between (2..6).
 */
import { classify, getFamily, referenceAnswer, scoreAnswer, type Classification } from './world.ts';
import type { FamilyName } from './types.ts';

/** Longest response (trimmed) that criterion 3 still calls understandable. */
export const MAX_READABLE_CHARS = 60;

/** The seven criteria values and what they were computed from. */
export interface RubricResult {
  /** Criteria 1..7 as 0/1, in the paper's order. */
  criteria: number[];
  /** Sum of the criteria, 0..7. */
  total: number;
  classification: Classification;
  /** The family the instruction is (or nearly is) an instance of. */
  family?: FamilyName;
  /** The reference answer, when the instruction is valid. */
  reference?: string;
  /** The verifier's score of the response, 0 when the instruction is invalid. */
  verifierScore: number;
}

/** Criterion 3: non-empty, a single line of printable ASCII, short. */
export function isReadable(response: string): boolean {
  const r = response.trim();
  return r.length > 0 && r.length <= MAX_READABLE_CHARS && /^[\x20-\x7e]+$/.test(r);
}

/** The rule-computed Box 3 criteria for one (instruction, response) pair. */
export function rubric(instruction: string, response: string): RubricResult {
  const classification = classify(instruction);
  const readable = isReadable(response) ? 1 : 0;
  if (!classification.valid) {
    const near = classification.nearFamily;
    const criteria = [near ? 1 : 0, 0, readable, 0, 0, 0, 0];
    return { criteria, total: (near ? 1 : 0) + readable, classification, family: near, verifierScore: 0 };
  }
  const { instance } = classification;
  const reference = referenceAnswer(instance);
  const answer = response.trim();
  const verifierScore = scoreAnswer(instance, answer);
  const concise = getFamily(instance.family).answerPattern.test(answer) && answer.length <= 2 * reference.length ? 1 : 0;
  const exact = verifierScore === 1 ? 1 : 0;
  const criteria = [1, 1, readable, verifierScore >= 0.5 ? 1 : 0, exact, concise, exact & concise];
  const total = criteria.reduce((a, b) => a + b, 0);
  return { criteria, total, classification, family: instance.family, reference, verifierScore };
}
