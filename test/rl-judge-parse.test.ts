/**
 * The Box 3 score parser on malformed, adversarial and multi-score judge outputs, and Box 1 / Box 3 template
 * filling with placeholder-like text and replacement patterns inside the filled values (src/prompts/paper.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHALLENGER_PROMPT, fillChallengerPrompt, fillJudgePrompt, JUDGE_PROMPT, parseJudgeScore } from '../src/prompts/paper.ts';

const score = (text: string) => parseJudgeScore(text).score;

test('well-formed scores: 0..7, surrounding whitespace and newlines, leading zeros', () => {
  const cases: [string, number][] = [
    ['<Score>0</Score>', 0],
    ['<Score>7</Score>', 7],
    ['<Score> 4 </Score>', 4],
    ['<Score>\n5\n</Score>', 5],
    ['<Score>\t3</Score>', 3],
    ['<Score>04</Score>', 4],
    ['The response is clear.\n<Calculation>1+1+1+0+1+1+0=5</Calculation>\n<Score>5</Score>', 5],
  ];
  for (const [text, want] of cases) assert.equal(score(text), want, JSON.stringify(text));
});

test('malformed scores give null (the caller counts them and uses its fallback)', () => {
  const cases = [
    '',
    'Score: 4',
    '<Score>4',
    '4</Score>',
    '<Score></Score>',
    '<Score> </Score>',
    '<score>4</score>',
    '<SCORE>4</SCORE>',
    '<Score>4</Score >',
    '< Score>4</Score>',
    '<Score>4.5</Score>',
    '<Score>4.0</Score>',
    '<Score>+4</Score>',
    '<Score>-1</Score>',
    '<Score>8</Score>',
    '<Score>10</Score>',
    '<Score>99999999999999999999999</Score>',
    '<Score>1e0</Score>',
    '<Score>0x4</Score>',
    '<Score>4/7</Score>',
    '<Score>4 points</Score>',
    '<Score>four</Score>',
    '<Score>٤</Score>', // Arabic-Indic four
    '<Score>４</Score>', // full-width four
    '<Score><b>4</b></Score>',
    '<Score>4 <!-- 7 --></Score>',
  ];
  for (const text of cases) assert.equal(score(text), null, JSON.stringify(text));
});

test('several scores: the first complete <Score>..</Score> pair decides', () => {
  assert.equal(score('<Score>3</Score> on reflection <Score>5</Score>'), 3);
  assert.equal(score('<Score>x</Score><Score>5</Score>'), null, 'an invalid first pair is not skipped');
  assert.equal(score('<Score><Score>5</Score>'), 5, 'an unclosed tag before a complete pair');
  assert.equal(score('<Score>2</Score><Score>'), 2);
  // a judge that quotes the prompt's own example before its verdict is read as the example (known limitation)
  assert.equal(score('As asked (e.g. <Score>4</Score>), my verdict: <Score>6</Score>'), 4);
});

test('adversarial outputs: tags and numbers around the score do not confuse it', () => {
  assert.equal(score('<Calculation>1+1+1+1+1+1+1=7</Calculation> <Score>2</Score>'), 2, 'the calculation does not override the score');
  assert.equal(score('I give 7. <Score>1</Score> (not 7)'), 1);
  assert.equal(score('</Score>7<Score>3</Score>'), 3, 'a closing tag before an opening one is ignored');
  assert.equal(score('<Score>\u00a06\u2003</Score>'), 6, 'Unicode spaces around the digit are whitespace');
  assert.equal(score('<Score>6\u200b</Score>'), null, 'a zero-width space is not whitespace');
});

test('unclosed tags followed by long whitespace parse in linear time (was cubic backtracking)', () => {
  const n = 4000; // the old pattern \s*([^<]*?)\s* took ~10 s here (160 ms at 1000, cubic)
  const inputs = [
    `<Score>${' '.repeat(n)}`,
    `<Score>${' '.repeat(n)}x`,
    `<Calculation>${' '.repeat(n)}`,
    `<Calculation>1${' '.repeat(n)}x</Calculation>`,
    '<Score> '.repeat(n / 8),
    `<Calculation>${'1 + '.repeat(n / 4)}=</Calculation>`,
  ];
  const start = performance.now();
  for (const text of inputs) assert.deepEqual(parseJudgeScore(text), { score: null });
  const ms = performance.now() - start;
  assert.ok(ms < 1000, `parsing took ${ms.toFixed(0)} ms`);
});

test('the calculation is read when well-formed, and checked', () => {
  assert.deepEqual(parseJudgeScore('<Calculation>1+0+1+0+1+1+0=4</Calculation><Score>4</Score>'), {
    score: 4,
    calculation: { terms: [1, 0, 1, 0, 1, 1, 0], total: 4, sumsCorrectly: true },
  });
  assert.deepEqual(parseJudgeScore('<Calculation> 1 + 1 = 3 </Calculation>').calculation, { terms: [1, 1], total: 3, sumsCorrectly: false });
  for (const bad of ['<Calculation>1+1</Calculation>', '<Calculation>1+-1=0</Calculation>', '<Calculation>=2</Calculation>', '<Calculation>1+1=2', '<Calculation>1+1=2=2</Calculation>']) {
    assert.equal(parseJudgeScore(bad).calculation, undefined, bad);
  }
});

/** The prompt with each placeholder (present exactly once) replaced, built by slicing: an independent reference. */
function sliceFill(prompt: string, values: [string, string][]): string {
  let out = prompt;
  let from = 0;
  for (const [name, value] of values) {
    const at = out.indexOf(name, from);
    assert.ok(at >= 0 && out.indexOf(name, at + 1) === -1, `${name} occurs once`);
    out = out.slice(0, at) + value + out.slice(at + name.length);
    from = at + value.length;
  }
  return out;
}

const TRICKY = ['{response}', '{instruction}', '{task}', '{template}', '{{task}}', '{}', '$&', '$1', '$$', "$'", '$`', '$<name>', '\\1', '{ice cream flavor}'];

test('fillJudgePrompt: placeholder-like text and replacement patterns inside the values stay literal', () => {
  for (const a of TRICKY) {
    for (const b of TRICKY) {
      const instruction = `Q ${a} end`;
      const response = `A ${b} end`;
      const want = sliceFill(JUDGE_PROMPT, [['{instruction}', instruction], ['{response}', response]]);
      assert.equal(fillJudgePrompt(instruction, response), want, `${a} / ${b}`);
    }
  }
  assert.equal(fillJudgePrompt(null, undefined), sliceFill(JUDGE_PROMPT, [['{instruction}', ''], ['{response}', '']]));
});

test('fillChallengerPrompt: both {task} occurrences filled, values never re-scanned, prose braces kept', () => {
  for (const v of TRICKY) {
    const task = `reverse ${v}`;
    const template = `Reverse: {word} ${v}`;
    const filled = fillChallengerPrompt(task, template);
    const want = CHALLENGER_PROMPT.split('{task}').join('\u0000').replace('{template}', '\u0001').replace(/\u0000/g, () => task).replace('\u0001', () => template);
    assert.equal(filled, want, v);
    assert.equal(filled.split(`'${task}'`).length - 1, 2, `the task appears twice for ${v}`);
    assert.ok(filled.includes('curly braces {} with') && filled.includes('placeholder is {ice cream flavor}'));
  }
});

test('custom prompts: only {task}/{template} (or {instruction}/{response}) are placeholders, case-sensitive', () => {
  const prompt = 'Do {task}. Again {task}. Form: {template}. Keep {TASK}, {other}, { task }, {task';
  assert.equal(fillChallengerPrompt('X{template}', 'Y{task}', prompt), 'Do X{template}. Again X{template}. Form: Y{task}. Keep {TASK}, {other}, { task }, {task');
  assert.equal(fillJudgePrompt('i', 'r', '{response}{instruction}{response}'), 'rir');
  assert.equal(fillJudgePrompt('i', 'r', 'no placeholders'), 'no placeholders');
});
