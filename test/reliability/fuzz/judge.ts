/**
 * Fuzz target: the judge-score parsers. parseJudgeScore (the Box 3 self-reward judge's `<Score>n</Score>`) is
 * compared with a naive scan written here from its documented rule; parseVerdict (the pairwise eval judge) must
 * return 1, 2, 'tie' or null. Neither may throw on any text.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JudgeError } from '../../../src/errors.ts';
import { parseVerdict } from '../../../src/eval/judges/openai.ts';
import { firstChoiceContent } from '../../../src/rewards/chat-client.ts';
import { parseJudgeScore } from '../../../src/prompts/paper.ts';
import { awkwardJson, awkwardString, jsonText, params, typedOrValue, type FuzzProperty } from './common.ts';

/** The inner text of the first `<open>...</close>` whose inside has no '<', by a plain scan (the documented rule). */
function firstBlock(text: string, open: string, close: string): string | undefined {
  for (let i = text.indexOf(open); i >= 0; i = text.indexOf(open, i + 1)) {
    let j = i + open.length;
    while (j < text.length && text[j] !== '<') j++;
    if (text.startsWith(close, j)) return text.slice(i + open.length, j);
  }
  return undefined;
}

/** The score by the documented rule: an integer 0..7 in the first block (spaces around it allowed), else null. */
function naiveScore(text: string): number | null {
  const inner = firstBlock(text, '<Score>', '</Score>')?.trim();
  if (inner === undefined || inner.length === 0 || [...inner].some((c) => c < '0' || c > '9')) return null;
  const n = Number(inner);
  return n <= 7 ? n : null;
}

/** Judge-like text: tags, digits, signs, whitespace and words in any order. */
const judgeText = fc
  .array(
    fc.oneof(
      fc.constantFrom('<Score>', '</Score>', '<Calculation>', '</Calculation>', '<score>', '< Score>', '<', '>', '/'),
      fc.constantFrom(' ', '\n', '\t', '\u00a0', '\u2003', '+', '=', '-', '.', '0', '7', '8', '07', '4.5', '1e1', '١'),
      fc.integer({ min: -3, max: 12 }).map(String),
      awkwardString,
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(''));

const verdictText = fc
  .array(fc.oneof(fc.constantFrom('Verdict: ', 'verdict', 'VERDICT -- ', '1', '2', 'tie', 'Tie.', '*', '"', '\n', ' ', '12', 'tied'), awkwardString), { maxLength: 12 })
  .map((parts) => parts.join(''));

function checkScore(text: string): void {
  const { value } = typedOrValue(() => parseJudgeScore(text), []);
  assert.equal(value!.score, naiveScore(text), JSON.stringify(text));
  const calc = value!.calculation;
  if (calc) {
    assert.ok(calc.terms.every((t) => Number.isInteger(t) && t >= 0));
    assert.equal(calc.sumsCorrectly, calc.terms.reduce((a, b) => a + b, 0) === calc.total);
  }
}

/** Response bodies of an OpenAI-compatible judge endpoint: near-valid chat completions, any JSON, any text. */
const responseBody = fc.oneof(
  fc.record({ choices: fc.oneof(fc.array(fc.record({ message: fc.oneof(fc.record({ content: fc.oneof(awkwardString, awkwardJson) }, { requiredKeys: [] }), awkwardJson) }, { requiredKeys: [] }), { maxLength: 2 }), awkwardJson), error: awkwardJson }, { requiredKeys: [] }).map(jsonText),
  awkwardJson.map(jsonText),
  awkwardString,
);

export const judgeProperties: FuzzProperty[] = [
  {
    name: "the judge client's response parser (firstChoiceContent)",
    weight: 2,
    run: (n, seed) =>
      fc.assert(
        fc.property(responseBody, (text) => {
          const { value, error } = typedOrValue(() => firstChoiceContent(text, 'http://judge/v1'), [JudgeError]);
          if (error) assert.ok(error.message.startsWith('http://judge/v1: '), error.message);
          else assert.equal(typeof value, 'string');
        }),
        params(n, seed),
      ),
  },
  { name: 'parseJudgeScore on judge-like text', weight: 5, run: (n, seed) => fc.assert(fc.property(judgeText, checkScore), params(n, seed)) },
  { name: 'parseJudgeScore on any text', weight: 2, run: (n, seed) => fc.assert(fc.property(awkwardString, checkScore), params(n, seed)) },
  {
    name: 'parseVerdict on verdict-like and any text',
    weight: 3,
    run: (n, seed) =>
      fc.assert(
        fc.property(fc.oneof(verdictText, awkwardString), (text) => {
          const { value } = typedOrValue(() => parseVerdict(text), []);
          assert.ok([1, 2, 'tie', null].includes(value as never), `${JSON.stringify(text)} -> ${String(value)}`);
        }),
        params(n, seed),
      ),
  },
];
