import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJudgeScore } from '../src/prompts/paper.ts';
import { Rng } from '../src/util/rng.ts';
import { judgeCompletion } from '../src/world/judge.ts';
import { balancedInstructions, NOISE_KINDS, noisyInstruction } from '../src/world/noise.ts';
import { rubric } from '../src/world/rubric.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';
import { classify, generateInstance, getFamily, phrase, referenceAnswer } from '../src/world/world.ts';

test('rubric: hand-made invalid instructions total at most 2, whatever the response', () => {
  const cases: [string, string, number][] = [
    ['qzx lkp', 'abc', 1], // criterion 3 only
    ['qzx lkp', '', 0],
    ['', '7', 1],
    ['Reverse the word: {word}', 'drow', 2], // skeleton recognisable (1) + readable (3)
    ['Add 3 and 4. Answer: 7', '7', 2], // leaked answer: identifiable, not well formed
    ['Sort in ascending order: 3, 1', '1 3', 2], // out of range: too few numbers
    ['What is lokem plus 12?', '12', 2],
    ["'Repeat the word lo 3 times.'", 'lo lo lo', 2],
    ['Reverse the word: lokemabitulokem', 'mekolutibamekol', 2],
    ['reverse the letters of a word', 'drow', 1],
  ];
  for (const [q, r, total] of cases) {
    const res = rubric(q, r);
    assert.equal(res.total, total, `${JSON.stringify(q)} / ${JSON.stringify(r)}: ${res.criteria.join('')}`);
    assert.deepEqual(res.criteria.slice(3), [0, 0, 0, 0], 'criteria 4-7 need a valid instruction');
    assert.equal(res.criteria[1], 0);
  }
});

test('rubric: valid instruction with the exact answer totals 7; wrong answers land in between', () => {
  assert.deepEqual(rubric('Reverse the word: lokem', 'mekol').criteria, [1, 1, 1, 1, 1, 1, 1]);
  assert.equal(rubric('What is 84 plus 58?', '142\n').total, 7, 'trailing newline of a generation is fine');
  const between: [string, string, number[]][] = [
    ['Reverse the word: lokem', 'mekal', [1, 1, 1, 1, 0, 1, 0]], // 4/5 letters right
    ['Reverse the word: lokem', 'lokem', [1, 1, 1, 0, 0, 1, 0]], // copied, not reversed: 1/5
    ['Reverse the word: lokem', 'The answer is mekol.', [1, 1, 1, 0, 0, 0, 0]], // chatty
    ['Reverse the word: lokem', '', [1, 1, 0, 0, 0, 0, 0]],
    ['What is 84 plus 58?', '132', [1, 1, 1, 1, 0, 1, 0]],
    ['What is 84 plus 58?', '142.', [1, 1, 1, 0, 0, 0, 0]],
    ['Sort in ascending order: 12, 7, 40', '7 40 12', [1, 1, 1, 0, 0, 1, 0]],
    ['Sort in ascending order: 12, 7, 40', '7, 12, 40', [1, 1, 1, 0, 0, 0, 0]],
    ['What is the largest of 12, 7, 40?', '42', [1, 1, 1, 1, 0, 1, 0]], // units digit wrong: 1/2
    ['What is the largest of 12, 7, 40?', '12', [1, 1, 1, 0, 0, 1, 0]], // a smaller number of the list: 0
    ['Repeat the word lo 3 times.', 'lo lo', [1, 1, 1, 1, 0, 1, 0]],
    ['Write in capital letters: lokem', 'lokem', [1, 1, 1, 0, 0, 0, 0]],
    ['Write in capital letters: lokem', 'LOKEM LOKEM LOKEM', [1, 1, 1, 0, 0, 0, 0]], // format right, too long
  ];
  for (const [q, r, criteria] of between) {
    const res = rubric(q, r);
    assert.deepEqual(res.criteria, criteria, `${q} / ${JSON.stringify(r)}`);
    assert.ok(res.total >= 2 && res.total < 7);
  }
});

test('noise kinds follow kindWeights when none is asked for (uniform without weights)', () => {
  const count = (weights?: Partial<Record<(typeof NOISE_KINDS)[number], number>>) => {
    const rng = new Rng(31);
    const n = new Map<string, number>();
    for (let i = 0; i < 2600; i++) {
      const { kind } = noisyInstruction(rng, undefined, { kindWeights: weights });
      n.set(kind, (n.get(kind) ?? 0) + 1);
    }
    return n;
  };
  const uniform = count();
  for (const kind of NOISE_KINDS) assert.ok(Math.abs(uniform.get(kind)! / 2600 - 1 / 13) < 0.03, `${kind}: ${uniform.get(kind)}`);
  const weighted = count({ 'mixed-templates': 14 }); // 14 of 26
  const share = weighted.get('mixed-templates')! / 2600;
  assert.ok(Math.abs(share - 14 / 26) < 0.04, `mixed-templates share ${share.toFixed(3)}, want ${(14 / 26).toFixed(3)}`);
  assert.ok(Math.abs(weighted.get('empty')! / 2600 - 1 / 26) < 0.02, 'a kind left out keeps weight 1');
});

test('rubric: every noise kind scores <= 2 with any response; valid + reference scores 7', () => {
  const rng = new Rng(17);
  for (const kind of NOISE_KINDS) {
    for (let i = 0; i < 60; i++) {
      const { instruction, kind: got } = noisyInstruction(rng, kind);
      assert.equal(got, kind, `${kind} produced without falling back`);
      assert.equal(classify(instruction).valid, false);
      const guess = referenceAnswer(generateInstance(rng, FAMILY_NAMES[i % 6], 1));
      for (const r of [guess, '', instruction]) assert.ok(rubric(instruction, r).total <= 2, `${kind}: ${JSON.stringify(instruction)}`);
    }
  }
  for (const family of FAMILY_NAMES) {
    for (let i = 0; i < 50; i++) {
      const inst = generateInstance(rng, family, rng.int(1, 6));
      assert.equal(rubric(phrase(rng, inst), referenceAnswer(inst)).total, 7);
    }
  }
});

test('judge completion: short, parses with parseJudgeScore, calculation sums to the rubric total', () => {
  const rng = new Rng(23);
  const items = balancedInstructions(rng, 400);
  for (const [i, item] of items.entries()) {
    const c = classify(item.instruction);
    const reference = c.valid ? referenceAnswer(c.instance) : '7';
    const response = [reference, '', 'The answer is 12.', getFamily(FAMILY_NAMES[i % 6]).corrupt(reference, reference, rng)][i % 4];
    const text = judgeCompletion(item.instruction, response);
    const parsed = parseJudgeScore(text);
    const r = rubric(item.instruction, response);
    assert.equal(parsed.score, r.total, text);
    assert.deepEqual(parsed.calculation, { terms: r.criteria, total: r.total, sumsCorrectly: true });
    const lines = text.split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[1], /^<Calculation>[01](\+[01]){6}=[0-7]<\/Calculation>$/);
    assert.match(lines[2], /^<Score>[0-7]<\/Score>$/);
    assert.ok(lines[0].split(' ').length <= 30, lines[0]);
    assert.equal(lines[0].includes('Expected:'), c.valid);
    assert.equal(lines[0].startsWith('Task unclear.'), r.criteria[0] === 0);
  }
  assert.equal(
    judgeCompletion('What is 84 plus 58?', '132'),
    'Task: add. Instruction well formed. Expected: 142. Response readable. Mostly right. Not fully correct. Concise. Style poor.\n' +
      '<Calculation>1+1+1+1+0+1+0=5</Calculation>\n<Score>5</Score>',
  );
  assert.equal(
    judgeCompletion('qzx', ''),
    'Task unclear. Instruction malformed. Response empty. Mostly wrong. Not fully correct. Not concise. Style poor.\n' +
      '<Calculation>0+0+0+0+0+0+0=0</Calculation>\n<Score>0</Score>',
  );
  assert.ok(!judgeCompletion('Add 3 and 4.', '7', { showExpected: false }).includes('Expected'));
});

test('balancedInstructions: half valid, half invalid, labels agree with classify, deterministic', () => {
  const items = balancedInstructions(new Rng(4), 260);
  assert.deepEqual(items, balancedInstructions(new Rng(4), 260));
  assert.equal(items.filter((x) => x.valid).length, 130);
  for (const x of items) {
    const c = classify(x.instruction);
    assert.equal(c.valid, x.valid, x.instruction);
    if (c.valid) assert.equal(c.family, x.family);
  }
  assert.equal(new Set(items.filter((x) => !x.valid).map((x) => x.kind)).size, NOISE_KINDS.length);
});
