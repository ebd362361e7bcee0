import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHALLENGER_PROMPT, JUDGE_PROMPT, fillChallengerPrompt, fillJudgePrompt, parseJudgeScore } from '../src/prompts/paper.ts';

// SHA-256 of the constants, computed from the paper's text when they were written (docs/method.md shows it).
const CHALLENGER_SHA256 = '681fcf5b03c55062fb3ae1b95c19ec31d51166aa0dbbc2e84a56e41cd86cd634';
const JUDGE_SHA256 = 'd237f4abed5907534aebe07ba0650ac0daa98914893ed25634e746ca823f5278';
const METHOD_DOC = fileURLToPath(new URL('../docs/method.md', import.meta.url));

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The text between the ``` fences that follow a markdown heading. */
function fencedAfter(markdown: string, heading: string): string {
  const start = markdown.indexOf(heading);
  assert.ok(start >= 0, `heading ${heading} not found`);
  const open = markdown.indexOf('```\n', start) + 4;
  const close = markdown.indexOf('\n```', open);
  return markdown.slice(open, close);
}

test('prompt constants match their pinned SHA-256', () => {
  assert.equal(sha256(CHALLENGER_PROMPT), CHALLENGER_SHA256);
  assert.equal(sha256(JUDGE_PROMPT), JUDGE_SHA256);
});

test('prompt constants match the verbatim blocks of docs/method.md byte for byte', () => {
  const md = fs.readFileSync(METHOD_DOC, 'utf8');
  assert.equal(CHALLENGER_PROMPT, fencedAfter(md, '### Box 1'));
  assert.equal(JUDGE_PROMPT, fencedAfter(md, '### Box 3'));
});

test('prompt constants contain the distinctive sentences', () => {
  for (const s of [
    "Generate an input for the language task '{task}' that will be passed to another language agent.",
    'fill out the template\'s placeholders marked by curly braces {} with your own generated content.',
    'For example, if the placeholder is {ice cream flavor}, you should generate a name of an ice cream flavor.',
    "[Start Generation] '{template}' [End Generation]\n\nFinal Remarks\nDo NOT generate a response",
  ]) {
    assert.ok(CHALLENGER_PROMPT.includes(s), s);
  }
  assert.ok(CHALLENGER_PROMPT.startsWith('Background\nLanguage tasks take form of a tuple (input, output).'));
  assert.ok(CHALLENGER_PROMPT.endsWith("generate a single input for the language task '{task}', following the template."));
  for (const s of [
    '7. +1 iff this user will most likely like the form and the style of the response.\n<Instruction>{instruction}</Instruction>\n<Response>{response}</Response>\n',
    '(e.g. <Calculation>1+0+1+0+1+1+0=4</Calculation>). The result is the total score. MAKE SURE THE CALCULATION IS CORRECT!',
  ]) {
    assert.ok(JUDGE_PROMPT.includes(s), s);
  }
  assert.ok(JUDGE_PROMPT.startsWith("Review the user-assistant interaction (user's instruction and the corresponding response)"));
  assert.ok(JUDGE_PROMPT.endsWith('(e.g. <Score>4</Score>). THE CORRECT FORMAT IS CRUCIAL!'));
  assert.equal(CHALLENGER_PROMPT.split('\n').length, 12);
  assert.equal(JUDGE_PROMPT.split('\n').length, 14);
});

test('fillChallengerPrompt replaces only {task} and {template}', () => {
  const p = fillChallengerPrompt('reverse the letters of a word', 'Reverse the word: {word}');
  assert.ok(!p.includes('{task}') && !p.includes('{template}'));
  assert.equal(p.split("'reverse the letters of a word'").length - 1, 2);
  assert.ok(p.includes("[Start Generation] 'Reverse the word: {word}' [End Generation]"), 'the template keeps its own placeholder');
  assert.ok(p.includes('curly braces {} with'), 'the literal {} stays');
  assert.ok(p.includes('placeholder is {ice cream flavor}'), 'the literal {ice cream flavor} stays');
  assert.equal(p, CHALLENGER_PROMPT.replaceAll('{task}', 'reverse the letters of a word').replace('{template}', 'Reverse the word: {word}'));
});

test('fillChallengerPrompt: None/empty become empty strings; substituted text is not re-scanned', () => {
  const empty = fillChallengerPrompt(null, undefined);
  assert.equal(empty, fillChallengerPrompt('', ''));
  assert.ok(empty.includes("language task ''") && empty.includes("[Start Generation] '' [End Generation]"));
  const tricky = fillChallengerPrompt('{template}', '{task}');
  assert.ok(tricky.includes("language task '{template}'") && tricky.includes("[Start Generation] '{task}' [End Generation]"));
  assert.ok(fillChallengerPrompt('a $& b', '$1').includes("task 'a $& b'"), 'replacement patterns are literal');
});

test('fillJudgePrompt replaces {instruction} and {response} once, literally', () => {
  const p = fillJudgePrompt('Add 3 and 4.', '7');
  assert.ok(p.includes('<Instruction>Add 3 and 4.</Instruction>\n<Response>7</Response>'));
  assert.equal(p, JUDGE_PROMPT.replace('{instruction}', 'Add 3 and 4.').replace('{response}', '7'));
  const tricky = fillJudgePrompt('{response}', '');
  assert.ok(tricky.includes('<Instruction>{response}</Instruction>\n<Response></Response>'));
  assert.equal(fillJudgePrompt(null, null), fillJudgePrompt('', ''));
});

test('parseJudgeScore reads the score and calculation', () => {
  const ok = parseJudgeScore('Fine.\n<Calculation>1+1+1+0+0+1+0=4</Calculation>\n<Score>4</Score>');
  assert.deepEqual(ok, { score: 4, calculation: { terms: [1, 1, 1, 0, 0, 1, 0], total: 4, sumsCorrectly: true } });
  const wrongSum = parseJudgeScore('<Calculation>1+1+1=5</Calculation><Score>5</Score>');
  assert.equal(wrongSum.score, 5);
  assert.equal(wrongSum.calculation?.sumsCorrectly, false);
  assert.deepEqual(parseJudgeScore('<Score> 7 </Score>'), { score: 7 });
  assert.equal(parseJudgeScore('<Score>0</Score>').score, 0);
  assert.equal(parseJudgeScore('<Score>3</Score> then <Score>6</Score>').score, 3, 'the first tag counts');
  assert.equal(parseJudgeScore('<Calculation>1 + 0 + 1 = 2</Calculation>').calculation?.total, 2);
  assert.equal(parseJudgeScore('<Calculation>one plus one</Calculation><Score>2</Score>').calculation, undefined);
});

test('parseJudgeScore: absent, unparseable or out-of-range scores are null', () => {
  for (const text of [
    '',
    'no tags at all, score 5',
    '<Score>8</Score>',
    '<Score>-1</Score>',
    '<Score>4.5</Score>',
    '<Score>four</Score>',
    '<Score></Score>',
    '<Score>5',
    'Score: 5',
    '<score>5</score>',
    '<Score>5/7</Score>',
    '<Score>12</Score>',
  ]) {
    assert.equal(parseJudgeScore(text).score, null, JSON.stringify(text));
  }
});
