import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng.ts';
import { charScore, corruptChars, digitScore, tokenScore } from '../src/world/scoring.ts';
import { compileStrict, matchTemplate } from '../src/world/template.ts';
import { FAMILY_NAMES, MAX_DIFFICULTY, type FamilyName } from '../src/world/types.ts';
import { FAMILY_LIST, reservedWords } from '../src/world/vocab.ts';
import { classify, fillInstance, generateInstance, getFamily, instanceKey, reward, referenceAnswer, scoreAnswer } from '../src/world/world.ts';
import { makeWordSource } from '../src/world/words.ts';

const STRICT = FAMILY_LIST.flatMap((f) => f.templates.map((t) => ({ family: f.name, c: compileStrict(t, f.slotPatterns) })));

test('every family: generate -> fill (every template) -> parse -> verify round trip', () => {
  const rng = new Rng(101);
  for (const family of FAMILY_NAMES) {
    const spec = getFamily(family);
    for (let d = 1; d <= MAX_DIFFICULTY; d++) {
      for (let i = 0; i < 40; i++) {
        const instance = generateInstance(rng, family, d);
        const answer = referenceAnswer(instance);
        assert.match(answer, spec.answerPattern, `${family} d${d} answer format`);
        assert.ok(answer.length <= 36, `${family} d${d} answer "${answer}" is short`);
        for (const template of spec.templates) {
          const q = fillInstance(template, instance);
          const c = classify(q);
          assert.ok(c.valid, `${q}: ${c.valid ? '' : c.reason}`);
          assert.equal(c.family, family);
          assert.equal(c.difficulty, d, q);
          assert.equal(c.template, template);
          assert.deepEqual(c.instance.slots, instance.slots);
          assert.equal(instanceKey(c.instance), instanceKey(instance));
          assert.equal(reward(q, answer), 1);
          assert.equal(reward(q, `  ${answer}\n`), 1, 'surrounding whitespace is ignored');
          const owners = STRICT.filter((s) => matchTemplate(s.c, q) !== null);
          assert.deepEqual(owners.map((s) => s.family), [family], `${q} matches exactly one template`);
        }
        assert.equal(scoreAnswer(instance, answer), 1);
      }
    }
  }
});

test('generation is deterministic by seed and honours exclusions', () => {
  const a = Array.from({ length: 20 }, (_, i) => generateInstance(new Rng(5), FAMILY_NAMES[i % 6], 1 + (i % 6)));
  const b = Array.from({ length: 20 }, (_, i) => generateInstance(new Rng(5), FAMILY_NAMES[i % 6], 1 + (i % 6)));
  assert.deepEqual(a, b);
  const exclude = new Set<string>();
  for (let x = 0; x <= 9; x++) for (let y = 0; y <= 9; y++) if (x + y !== 9 || x !== 4) exclude.add(`add|What is ${x} plus ${y}?`);
  const rng = new Rng(9);
  for (let i = 0; i < 20; i++) assert.equal(referenceAnswer(generateInstance(rng, 'add', 1, { exclude })), '9');
  assert.throws(() => generateInstance(rng, 'add', 0), /difficulty/);
  assert.throws(() => generateInstance(rng, 'add', 7), /difficulty/);
});

/** Instructions that must be rejected, per family: malformed, off-template, out of range or nonsense content. */
const INVALID: Record<FamilyName, string[]> = {
  reverse: ['Reverse the word: ', 'Reverse the word: {word}', 'Reverse the word: Lokem', 'Reverse the word: lo', 'Reverse the word: lokemabitulo',
    'Reverse the word: lok em', 'Reverse the word: 123', 'reverse the word: lokem', 'Reverse the word lokem', 'Reverse the word: lokem!',
    'Write the letters of lokem in reverse order', 'Write the letters of lokem in reverse order. Answer: mekol', "'Reverse the word: lokem'"],
  uppercase: ['Write in capital letters: ', 'Write in capital letters: ab cd ef gh', 'Write in capital letters: a', 'Write in capital letters: LOKEM',
    'Write in capital letters: lokem  bada', 'Write in capital letters: lokemabitu lokemabitu lokemabitu', 'Uppercase this phrase: 12', 'Uppercase this phrase:lokem',
    'Write in capital letters: {phrase}'],
  repeat: ['Repeat the word lo 1 times.', 'Repeat the word lo 10 times.', 'Repeat the word lo 02 times.', 'Repeat the word lokemab 3 times.',
    'Repeat the word l 3 times.', 'Write lokem 7 times.', 'Write loke 6 times.', 'Repeat the word lo three times.', 'Repeat the word 3 times.', 'Write lo 3 times', 'Write {word} {n} times.',
    'Repeat the word lo 3 times. lo lo lo', 'Write lo lo 3 times.'],
  sort: ['Sort in ascending order: ', 'Sort in ascending order: 3, 1', 'Sort in ascending order: 1, 2, 3, 4, 5, 6, 7, 8', 'Sort in ascending order: 3, 1000, 2',
    'Sort in ascending order: 03, 1, 2', 'Sort in ascending order: 3,1,2', 'Sort in ascending order: 3 1 2', 'Sort in ascending order: a, b, c',
    'Sort in ascending order: 3, 1, 2,', 'Sort these numbers from smallest to largest: {numbers}', 'Sort in ascending order: -3, 1, 2'],
  add: ['What is 3 plus ?', 'What is 03 plus 4?', 'What is 12345 plus 4?', 'What is three plus 4?', 'What is 3 plus 4? 7',
    'Add 3 and 4', 'Add 3 and 4 and 5.', 'Add {a} and {b}.', 'What is -3 plus 4?', 'What is 3.5 plus 4?', 'what is 3 plus 4?'],
  largest: ['What is the largest of ?', 'What is the largest of 3, 1?', 'What is the largest of 03, 1, 2?',
    'What is the largest of 3,1,2?', 'What is the largest of 3 1 2?', 'What is the largest of 3, 1000, 2?', 'What is the largest of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11?',
    'What is the largest of 3, 1, 2? 3', 'Write the largest of these numbers: {numbers}', 'Write the largest of these numbers: a, b, c',
    'Write the largest of these numbers: 3, 1, 2.', 'what is the largest of 3, 1, 2?', 'What is the largest of -3, 1, 2?'],
};

test('invalid fills are rejected (many kinds, every family) and earn reward 0', () => {
  for (const family of FAMILY_NAMES) {
    for (const q of INVALID[family]) {
      const c = classify(q);
      assert.equal(c.valid, false, `${family}: "${q}" must be invalid`);
      assert.equal(reward(q, 'mekol'), 0);
      assert.equal(reward(q, '7'), 0);
    }
  }
  for (const q of ['', 'hello world', 'lokem', '7', 'Reverse', '[Start Generation] Add 3 and 4. [End Generation]']) assert.equal(classify(q).valid, false, q);
});

test('out-of-range contents of every family are rejected', () => {
  const rng = new Rng(33);
  const word = makeWordSource(rng, reservedWords());
  for (const spec of FAMILY_LIST) {
    for (let i = 0; i < 100; i++) {
      const slots = spec.sampleOutOfRange(rng, word);
      for (const t of spec.templates) {
        const q = t.replace(/\{([a-z]+)\}/g, (_m, n: string) => slots[n]);
        const c = classify(q);
        assert.equal(c.valid, false, `${spec.name}: "${q}" is out of range`);
        assert.equal(c.valid ? undefined : c.nearFamily, spec.name, 'the skeleton is still recognised');
      }
    }
  }
});

test('partial credit is monotone: progressively corrupting an answer never raises its score', () => {
  const rng = new Rng(7);
  for (const family of FAMILY_NAMES) {
    const spec = getFamily(family);
    for (let i = 0; i < 400; i++) {
      const instance = generateInstance(rng, family, rng.int(1, MAX_DIFFICULTY));
      const ref = referenceAnswer(instance);
      let answer = ref;
      let prev = 1;
      for (let step = 0; step < 12; step++) {
        answer = spec.corrupt(ref, answer, rng);
        const s = scoreAnswer(instance, answer);
        assert.ok(s >= 0 && s <= 1);
        assert.ok(s <= prev + 1e-12, `${family}: "${ref}" -> "${answer}" raised ${prev} to ${s}`);
        if (step === 0) assert.ok(s < 1, `${family}: one corruption of "${ref}" ("${answer}") is not exact`);
        prev = s;
      }
    }
  }
});

test('partial credit: independent corruptions of character answers, and 1 only for the exact answer', () => {
  const rng = new Rng(8);
  for (let i = 0; i < 300; i++) {
    const ref = generateInstance(rng, 'reverse', rng.int(1, 6)).slots.word;
    const chars = [...ref];
    const order = Array.from(chars.keys()).sort(() => rng.next() - 0.5);
    let prev = charScore(ref, ref);
    for (const pos of order) {
      chars[pos] = chars[pos] === 'q' ? 'x' : 'q'; // never a content letter: a substitution always breaks a match
      const s = charScore(ref, chars.join(''));
      assert.ok(s < prev);
      prev = s;
    }
    assert.equal(prev, 0);
    assert.ok(charScore(ref, ref + 'q') < 1 && charScore(ref, ref.slice(0, -1)) < 1);
    assert.ok(charScore(ref, corruptChars(ref, ref, rng)) < 1);
  }
  // Every family: answers taken from other instances score 1 only when they are literally the reference.
  for (const family of FAMILY_NAMES) {
    for (let i = 0; i < 200; i++) {
      const a = generateInstance(rng, family, rng.int(1, 6));
      const other = referenceAnswer(generateInstance(rng, family, rng.int(1, 6)));
      assert.equal(scoreAnswer(a, other) === 1, other === referenceAnswer(a));
    }
  }
});

test('scoring functions on hand-made cases', () => {
  assert.equal(charScore('mekol', 'mekol'), 1);
  assert.equal(charScore('mekol', 'mekal'), 0.8);
  assert.equal(charScore('mekol', 'meko'), 0.8);
  assert.equal(charScore('mekol', 'mekolx'), 5 / 6);
  assert.equal(charScore('mekol', ''), 0);
  assert.equal(digitScore('1523', '1533'), 0.75);
  assert.equal(digitScore('1523', '523'), 0.75, 'right-aligned: the units digit lines up');
  assert.equal(digitScore('142', '142.'), 0);
  assert.equal(tokenScore('3 7 12 40', '3 7 12 40'), 1);
  assert.equal(tokenScore('3 7 12 40', '3 7 40 12'), 0.5);
  assert.equal(tokenScore('3 7 12 40', '3, 7, 12, 40'), 0.25);
  assert.ok(tokenScore('3 7 12', '3  7 12') < 1, 'a doubled space is not exact');
});

test('difficulty changes the content size (mean instruction + answer length grows with every level)', () => {
  const rng = new Rng(21);
  for (const family of FAMILY_NAMES) {
    const spec = getFamily(family);
    let prev = 0;
    for (let d = 1; d <= MAX_DIFFICULTY; d++) {
      let total = 0;
      for (let i = 0; i < 200; i++) {
        const inst = generateInstance(rng, family, d);
        total += fillInstance(spec.templates[0], inst).length + referenceAnswer(inst).length;
      }
      const mean = total / 200;
      assert.ok(mean > prev, `${family}: level ${d} mean size ${mean} > level ${d - 1} ${prev}`);
      prev = mean;
    }
  }
});

test('content words are pronounceable lowercase strings and never a prompt word', () => {
  const rng = new Rng(3);
  const reserved = reservedWords();
  for (const w of ['the', 'word', 'reverse', 'task', 'score', 'be', 'in', 'user', 'expected']) assert.ok(reserved.has(w), w);
  for (let i = 0; i < 2000; i++) {
    for (const family of ['reverse', 'repeat', 'uppercase'] as const) {
      const inst = generateInstance(rng, family, rng.int(1, 6));
      const text = inst.slots.word ?? inst.slots.phrase;
      for (const w of text.split(' ')) {
        assert.match(w, /^[a-z]+$/);
        assert.ok(!reserved.has(w), `content word "${w}" is a prompt word`);
      }
    }
  }
});

test('largest: the answer is the list maximum, levels by list length and size, three-digit lists from level 4', () => {
  const cases: [string, string, number][] = [
    ['What is the largest of 12, 7, 40?', '40', 1],
    ['Write the largest of these numbers: 9, 9, 3', '9', 1],
    ['What is the largest of 5, 0, 99, 98?', '99', 2],
    ['What is the largest of 1, 2, 3, 4, 5?', '5', 3],
    ['What is the largest of 100, 2, 3?', '100', 4],
    ['What is the largest of 1, 2, 3, 4, 5, 6, 7?', '7', 5],
    ['Write the largest of these numbers: 999, 1, 2, 3, 4, 5, 6, 7, 8, 10', '999', 6],
  ];
  for (const [q, answer, level] of cases) {
    const c = classify(q);
    assert.ok(c.valid && c.family === 'largest', q);
    assert.equal(c.difficulty, level, q);
    assert.equal(referenceAnswer(c.instance), answer, q);
    assert.equal(reward(q, answer), 1);
    assert.ok(reward(q, String(Number(answer) + 1)) < 1, 'a near miss is not exact');
  }
  const rng = new Rng(44);
  for (let d = 1; d <= MAX_DIFFICULTY; d++) {
    const answers = new Set(Array.from({ length: 200 }, () => referenceAnswer(generateInstance(rng, 'largest', d))));
    assert.ok(answers.size >= 20, `level ${d}: ${answers.size} distinct answers in 200 draws (too few to guess)`);
  }
});

test('a closing question mark is optional; other punctuation is not', () => {
  const add = compileStrict('What is {a} plus {b}?', { a: '[0-9]+', b: '[0-9]+' });
  assert.deepEqual(matchTemplate(add, 'What is 9 plus 42'), { a: '9', b: '42' });
  assert.deepEqual(matchTemplate(add, 'What is 9 plus 42?'), { a: '9', b: '42' });
  assert.equal(matchTemplate(add, 'What is 9 plus 42??'), null);
  assert.equal(matchTemplate(add, 'What is 9 plus 42.'), null);
  const sort = compileStrict('Sort in ascending order: {numbers}', { numbers: '[0-9]+(?:, [0-9]+)*' });
  assert.equal(matchTemplate(sort, 'Sort in ascending order: 5, 7, 1?'), null);
  const largest = classify('What is the largest of 514, 79, 18, 21, 16');
  assert.ok(largest.valid && largest.family === 'largest' && largest.difficulty === 4, JSON.stringify(largest));
});
