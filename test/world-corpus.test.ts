import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { InputError } from '../src/errors.ts';
import { CHALLENGER_PROMPT, JUDGE_PROMPT, fillChallengerPrompt } from '../src/prompts/paper.ts';
import { allPromptTexts, makeCorpus, type TrainingExample } from '../src/world/corpus.ts';
import { EVAL_SET_PATH, evalInstanceKeys, evalSetToJsonl, LARGE_EVAL_PER_FAMILY, LARGE_EVAL_SET_PATH, LARGE_EVAL_SET_V3_PATH, levelQuotas, loadEvalSet, makeEvalSet, makeLargeEvalSetV4, NEW_IN_V4 } from '../src/world/evalset.ts';
import { judgeCompletion } from '../src/world/judge.ts';
import { EASY_MAX, FAMILY_NAMES, MAX_DIFFICULTY, PRETRAIN_DIFFICULTY } from '../src/world/types.ts';
import { FAMILY_LIST } from '../src/world/vocab.ts';
import { classify, getFamily, instanceKey, pretrainRange, referenceAnswer } from '../src/world/world.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { pickFamily } from '../src/world/corpus.ts';

/** The instruction a training example contains (challenger target, solver prompt, judged instruction). */
function instructionOf(ex: TrainingExample): string {
  if (ex.role === 'challenger') return ex.completion;
  if (ex.role === 'solver') return ex.prompt;
  return /<Instruction>([\s\S]*)<\/Instruction>\n<Response>/.exec(ex.prompt)![1];
}

test('corpus is deterministic by seed, a prefix-stable stream, and seeds differ', () => {
  const a = makeCorpus(300, { seed: 7 });
  assert.deepEqual(a, makeCorpus(300, { seed: 7 }));
  assert.deepEqual(a.slice(0, 100), makeCorpus(100, { seed: 7 }));
  assert.notDeepEqual(a, makeCorpus(300, { seed: 8 }));
});

test('corpus role mix follows the weights', () => {
  assert.ok(makeCorpus(200, { seed: 1, roles: { solver: 1 } }).every((e) => e.role === 'solver'));
  const mix = makeCorpus(3000, { seed: 2, roles: { challenger: 1, judge: 3 } });
  const judges = mix.filter((e) => e.role === 'judge').length;
  assert.ok(!mix.some((e) => e.role === 'solver'));
  assert.ok(Math.abs(judges / mix.length - 0.75) < 0.03, `judge share ${judges / mix.length}`);
  const even = makeCorpus(3000, { seed: 3 });
  for (const role of ['challenger', 'solver', 'judge']) {
    const share = even.filter((e) => e.role === role).length / even.length;
    assert.ok(Math.abs(share - 1 / 3) < 0.03, `${role} share ${share}`);
  }
});

test('challenger and solver examples are valid, on-family, and spread over the difficulty range', () => {
  const examples = makeCorpus(3000, { seed: 11, roles: { challenger: 1, solver: 1 } });
  const levels = new Set<number>();
  for (const ex of examples) {
    const c = classify(instructionOf(ex));
    assert.ok(c.valid, instructionOf(ex));
    assert.equal(c.family, ex.family);
    assert.equal(c.difficulty, ex.difficulty);
    levels.add(c.difficulty);
    if (ex.role === 'challenger') {
      assert.equal(ex.prompt, fillChallengerPrompt(getFamily(c.family).task, c.template));
    } else {
      assert.equal(ex.completion, referenceAnswer(c.instance));
    }
  }
  assert.deepEqual([...levels].sort(), [1, 2, 3, 4]);
  const hard = makeCorpus(300, { seed: 12, roles: { solver: 1 }, difficulty: [5, 6], families: ['sort'] });
  assert.ok(hard.every((e) => e.family === 'sort' && e.difficulty! >= 5));
  const empty = makeCorpus(200, { seed: 13, roles: { challenger: 1 }, emptyChallengerFraction: 1 });
  assert.ok(empty.every((e) => e.prompt === fillChallengerPrompt('', '') && classify(e.completion).valid));
});

test('each family is pretrained on its own levels; the copy-like families stop at 3 (the easy half), the others at 4', () => {
  const examples = makeCorpus(4000, { seed: 21, roles: { challenger: 1, solver: 1, judge: 1 } });
  const seen = new Map<string, Set<number>>();
  for (const ex of examples) {
    const c = classify(instructionOf(ex));
    if (!c.valid) continue;
    const levels = seen.get(c.family) ?? new Set<number>();
    levels.add(c.difficulty);
    seen.set(c.family, levels);
  }
  for (const family of FAMILY_NAMES) {
    const [lo, hi] = pretrainRange(family);
    assert.deepEqual([...seen.get(family)!].sort(), Array.from({ length: hi - lo + 1 }, (_, i) => lo + i), family);
  }
  for (const family of ['reverse', 'uppercase', 'repeat'] as const) assert.equal(pretrainRange(family)[1], EASY_MAX, family);
  for (const family of ['sort', 'add', 'largest'] as const) assert.deepEqual(pretrainRange(family), PRETRAIN_DIFFICULTY, family);
  const asked = makeCorpus(300, { seed: 22, roles: { solver: 1 }, families: ['reverse'], difficulty: [5, 6] });
  assert.ok(asked.every((e) => e.difficulty! >= 5), 'an explicit range overrides the family default');
});

test('judge examples: Box 3 prompt, rubric targets, >= 40% invalid instructions, varied responses', () => {
  const examples = makeCorpus(2000, { seed: 5, roles: { judge: 1 } });
  const prefix = JUDGE_PROMPT.slice(0, JUDGE_PROMPT.indexOf('{instruction}'));
  let invalid = 0;
  const scores = new Set<string>();
  for (const ex of examples) {
    assert.ok(ex.prompt.startsWith(prefix));
    const instruction = instructionOf(ex);
    const response = /<Response>([\s\S]*)<\/Response>\nAfter examining/.exec(ex.prompt)![1];
    assert.equal(ex.completion, judgeCompletion(instruction, response));
    assert.equal(classify(instruction).valid, ex.valid);
    if (!ex.valid) invalid++;
    scores.add(/<Score>(\d)<\/Score>/.exec(ex.completion)![1]);
  }
  assert.ok(invalid / examples.length >= 0.45, `invalid share ${invalid / examples.length}`);
  for (const s of ['0', '1', '2', '3', '4', '5', '7']) assert.ok(scores.has(s), `score ${s} appears`);
});

test('corpus options are validated with messages naming the field', () => {
  assert.throws(() => makeCorpus(1, { seed: 1, judgeInvalidFraction: 0.2 }), (e) => e instanceof InputError && /judgeInvalidFraction/.test(e.message));
  assert.throws(() => makeCorpus(1, { seed: 1, difficulty: [0, 3] }), /difficulty/);
  assert.throws(() => makeCorpus(1, { seed: 1, difficulty: [4, 2] }), /difficulty/);
  assert.throws(() => makeCorpus(1, { seed: 1, roles: { solver: 0 } }), /roles/);
  assert.throws(() => makeCorpus(1, { seed: 1, families: ['translate' as never] }), /unknown task family/);
});

test('allPromptTexts holds every fixed text', () => {
  const texts = allPromptTexts();
  assert.ok(texts.includes(CHALLENGER_PROMPT) && texts.includes(JUDGE_PROMPT));
  for (const f of FAMILY_LIST) {
    assert.ok(texts.includes(f.task));
    for (const t of f.templates) assert.ok(texts.includes(t));
  }
  const words = new Set(texts.join(' ').match(/[A-Za-z]+/g));
  const judged = makeCorpus(500, { seed: 9, roles: { judge: 1 } });
  for (const ex of judged) for (const w of ex.completion.split('\n')[0].replace(/Expected: [^.]*\./, '').match(/[A-Za-z]+/g) ?? []) assert.ok(words.has(w), w);
});

test('evaluation file: loads, >= 100 per family over all levels, matches the generator, valid and answered', () => {
  const items = loadEvalSet();
  assert.equal(evalSetToJsonl(makeEvalSet()), fs.readFileSync(EVAL_SET_PATH, 'utf8'), 'the file is what make-evalset.ts writes');
  assert.equal(new Set(items.map((i) => i.id)).size, items.length);
  for (const family of FAMILY_NAMES) {
    const mine = items.filter((i) => i.family === family);
    assert.ok(mine.length >= 100, `${family}: ${mine.length}`);
    const levels = new Set(mine.map((i) => i.difficulty));
    assert.equal(levels.size, MAX_DIFFICULTY);
    assert.ok(Math.max(...levels) > PRETRAIN_DIFFICULTY[1], 'levels above the pretraining range');
    assert.equal(new Set(mine.map((i) => i.instruction)).size, mine.length);
  }
  for (const it of items) {
    const c = classify(it.instruction);
    assert.ok(c.valid, it.instruction);
    assert.equal(c.family, it.family);
    assert.equal(c.difficulty, it.difficulty);
    assert.equal(it.split, it.difficulty <= EASY_MAX ? 'easy' : 'hard');
    assert.equal(it.answer, referenceAnswer(c.instance));
  }
});

test('large evaluation file: v3 items of the kept families verbatim, largest drawn fresh, 420 per family, disjoint from the first', () => {
  const items = loadEvalSet(LARGE_EVAL_SET_PATH);
  const v3 = loadEvalSet(LARGE_EVAL_SET_V3_PATH);
  assert.equal(evalSetToJsonl(makeLargeEvalSetV4(v3)), fs.readFileSync(LARGE_EVAL_SET_PATH, 'utf8'), 'the file is what make-evalset.ts writes');
  // v3's items were drawn disjoint from the shipped model's replayed stage-2 pretraining (checked by v3's test, when
  // v3's code could replay it); v4 keeps them unchanged
  const kept = (xs: typeof items) => xs.filter((i) => !NEW_IN_V4.includes(i.family)).map((i) => JSON.stringify(i));
  assert.deepEqual(kept(items), kept(v3.filter((i) => (FAMILY_NAMES as readonly string[]).includes(i.family))));
  assert.equal(new Set(items.map((i) => i.id)).size, items.length);
  const first = evalInstanceKeys([EVAL_SET_PATH]);
  const keys = new Set<string>();
  for (const it of items) {
    const c = classify(it.instruction);
    assert.ok(c.valid && c.family === it.family && c.difficulty === it.difficulty, it.instruction);
    assert.equal(it.answer, referenceAnswer(c.instance));
    assert.ok(!first.has(instanceKey(c.instance)), `in both files: ${it.instruction}`);
    keys.add(instanceKey(c.instance));
  }
  assert.equal(keys.size, items.length, 'distinct instances');
  for (const family of FAMILY_NAMES) {
    const mine = items.filter((i) => i.family === family);
    assert.equal(mine.length, LARGE_EVAL_PER_FAMILY);
    // every level, except one-digit sums: all 100 were drawn in pretraining (stage 2 alone drew the 80 not in v3)
    assert.equal(new Set(mine.map((i) => i.difficulty)).size, family === 'add' ? MAX_DIFFICULTY - 1 : MAX_DIFFICULTY);
  }
  assert.equal(items.filter((i) => i.family === 'add' && i.difficulty === 1).length, 0);
});

test('first evaluation file: world v4 keeps v3 items of the families it did not change', () => {
  const v3 = fs.readFileSync(EVAL_SET_PATH.replace('-v4.jsonl', '-v3.jsonl'), 'utf8').split('\n').filter((l) => l && !l.includes('"family":"count"'));
  const v4 = fs.readFileSync(EVAL_SET_PATH, 'utf8').split('\n').filter((l) => l && !l.includes('"family":"largest"'));
  assert.deepEqual(v4, v3);
});

test('level quotas: even where the caps allow, shortfalls spread, too-small caps refused', () => {
  assert.deepEqual(levelQuotas(12, [10, 10, 10]), [4, 4, 4]);
  assert.deepEqual(levelQuotas(12, [1, 10, 10]), [1, 5, 6]);
  assert.deepEqual(levelQuotas(420, [5, 1e9, 1e9, 1e9, 1e9, 1e9]), [5, 83, 83, 83, 83, 83]);
  assert.throws(() => levelQuotas(10, [2, 3]), /hold fewer than 10 items/);
});

test('a 20k-example corpus never contains an instance of either evaluation file', () => {
  const evalItems = [...loadEvalSet(), ...loadEvalSet(LARGE_EVAL_SET_PATH)];
  const evalInstructions = new Set(evalItems.map((i) => i.instruction));
  const evalKeys = evalInstanceKeys();
  assert.equal(evalKeys.size, evalItems.length);
  let validSeen = 0;
  for (const ex of makeCorpus(20000, { seed: 20250907 })) {
    const q = instructionOf(ex);
    assert.ok(!evalInstructions.has(q), `eval instruction in corpus: ${q}`);
    const c = classify(q);
    if (c.valid) {
      validSeen++;
      assert.ok(!evalKeys.has(instanceKey(c.instance)), `eval instance in corpus: ${q}`);
    }
  }
  assert.ok(validSeen > 12000);
  // The exclusion is what keeps them apart: without it, small easy levels (one-digit sums...) do collide.
  const unguarded = makeCorpus(20000, { seed: 20250907, exclude: new Set() }).filter((ex) => evalInstructions.has(instructionOf(ex)));
  assert.ok(unguarded.length > 0);
});

test('families are drawn by their pretraining weight (largest 3, add 2, the rest 1)', () => {
  const weights = Object.fromEntries(FAMILY_NAMES.map((f) => [f, getFamily(f).pretrainWeight ?? 1]));
  assert.deepEqual(weights, { reverse: 1, uppercase: 1, repeat: 1, sort: 1, add: 2, largest: 3 });
  const rng = new Rng(8);
  const n = 18000;
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const f = pickFamily(rng, FAMILY_NAMES);
    counts.set(f, (counts.get(f) ?? 0) + 1);
  }
  for (const f of FAMILY_NAMES) {
    const expected: number = (n * weights[f]) / 9;
    assert.ok(Math.abs(counts.get(f)! - expected) < 4 * Math.sqrt(expected), `${f}: ${counts.get(f)} draws, expected ~${expected}`);
  }
  const solver = makeCorpus(3000, { seed: 5, roles: { solver: 1 } });
  const share = (f: string) => solver.filter((e) => e.family === f).length / solver.length;
  assert.ok(share('largest') > 2 * share('sort') && share('add') > 1.4 * share('reverse'), `largest ${share('largest')}, add ${share('add')}`);
});

test("the shipped tokenizer (models/default) has every word of world v4's prompt texts as one token", () => {
  const tok = loadTokenizer(new URL('../models/default', import.meta.url).pathname);
  const words = new Set(allPromptTexts().join(' ').match(/[A-Za-z]+/g));
  const split = [...words].filter((w) => tok.encode(w, { addSpecialTokens: false }).length !== 1);
  assert.deepEqual(split, [], `words spelled in pieces: ${split.join(', ')}`);
});
