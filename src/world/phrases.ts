/**
 * Fixed texts other than the paper's prompts that the world writes: the judge's formulaic justification
 * vocabulary and the wrappers that make off-format responses. Listed here once so the tokenizer can make each
 * of their words a single token (see `allPromptTexts`).
 */

/** For each of the 7 Box 3 criteria, the sentence written when it is [not met, met]. */
export const CRITERION_PHRASES: readonly (readonly [string, string])[] = [
  ['Task unclear.', 'Task: {family}.'],
  ['Instruction malformed.', 'Instruction well formed.'],
  ['Response unreadable.', 'Response readable.'],
  ['Mostly wrong.', 'Mostly right.'],
  ['Not fully correct.', 'Fully correct.'],
  ['Not concise.', 'Concise.'],
  ['Style poor.', 'Style fine.'],
];

/** Written instead of "Response unreadable." when the response is empty. */
export const EMPTY_RESPONSE_PHRASE = 'Response empty.';

/** Written after criterion 2 when the instruction is valid: the answer the judge expects. */
export const EXPECTED_PHRASE = 'Expected: {answer}.';

/** Wrappers that turn a bare answer into a chatty, off-format response (criteria 6 and 7 fail). */
export const RESPONSE_WRAPPERS: readonly string[] = [
  'The answer is {answer}.',
  'Answer: {answer}',
  '{answer}.',
  'Sure, here it is: {answer}',
  'I think it is {answer}',
];

/** Texts a noisy challenger might append to a query (leaking its answer). */
export const LEAK_WRAPPERS: readonly string[] = [' Answer: {answer}', ' (answer: {answer})', '\n{answer}', ' = {answer}'];
