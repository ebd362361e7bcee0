/** The GRPO frontier filter: its pure functions by hand, the prompt set it keeps, the measurement, the CLI flag. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { filterFrontier, frontierLevels, levelSuccess, measureLevelSuccess, parseFrontier, probeInstructions } from '../src/experiment/frontier.ts';
import { GRPO_FRONTIER_FILE, GRPO_PROMPTS_FILE, grpoPrompts, writeGrpoPrompts } from '../src/experiment/paper.ts';
import { readJson, readJsonl } from '../src/train/run-folder.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { evalInstanceKeys } from '../src/world/evalset.ts';
import { classify, instanceKey, reward } from '../src/world/world.ts';

const root = path.join(import.meta.dirname, '..');

test('level success, the [lo, hi] band (ends included) and the filter', () => {
  const outcomes = [
    ...[true, false, false, false, false].map((success) => ({ family: 'sort', difficulty: 2, success })), // 0.2
    ...[true, true, true, true].map((success) => ({ family: 'sort', difficulty: 1, success })), // 1
    ...[true, false].map((success) => ({ family: 'add', difficulty: 3, success })), // 0.5
    ...[false, false, false].map((success) => ({ family: 'count', difficulty: 1, success })), // 0
  ];
  const levels = levelSuccess(outcomes);
  assert.deepEqual(levels.map((l) => [l.family, l.difficulty, l.successes, l.trials, l.rate]), [
    ['sort', 2, 1, 5, 0.2],
    ['sort', 1, 4, 4, 1],
    ['add', 3, 1, 2, 0.5],
    ['count', 1, 0, 3, 0],
  ]);
  const kept = frontierLevels(levels);
  assert.deepEqual(kept.map((l) => `${l.family}${l.difficulty}`), ['sort2', 'add3']);
  assert.deepEqual(frontierLevels(levels, { lo: 0, hi: 0.1 }).map((l) => `${l.family}${l.difficulty}`), ['count1']);
  const prompts = [{ family: 'sort', difficulty: 1 }, { family: 'sort', difficulty: 2 }, { family: 'add', difficulty: 3 }, { family: 'add', difficulty: 2 }];
  assert.deepEqual(filterFrontier(prompts, kept), [prompts[1], prompts[2]]);
  assert.deepEqual(parseFrontier('0.2, 0.8'), { lo: 0.2, hi: 0.8 });
  assert.throws(() => parseFrontier('0.8,0.2'), /--grpo-frontier: expected lo,hi with 0 <= lo <= hi <= 1/);
});

test('the probe set: perLevel distinct instructions of every (family, level), none held out', () => {
  const probe = probeInstructions(4, 3);
  assert.equal(probe.length, 36 * 3);
  const held = evalInstanceKeys();
  const counts = new Map<string, number>();
  for (const q of probe) {
    const c = classify(q);
    assert.ok(c.valid && !held.has(instanceKey(c.instance)), q);
    counts.set(`${c.family}${c.difficulty}`, (counts.get(`${c.family}${c.difficulty}`) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], Array(36).fill(3));
  assert.equal(new Set(probe.map((q) => { const c = classify(q); return c.valid ? instanceKey(c.instance) : q; })).size, probe.length);
});

test('a kept-levels GRPO prompt set: only those levels, distinct, none held out', () => {
  const keep = (family: string, difficulty: number) => (family === 'sort' && difficulty === 3) || (family === 'add' && difficulty === 2);
  const prompts = grpoPrompts(1, 40, keep);
  assert.equal(prompts.length, 40);
  const held = evalInstanceKeys();
  const keys = prompts.map((p) => {
    const c = classify(p.instruction);
    assert.ok(c.valid && keep(c.family, c.difficulty), p.instruction);
    return instanceKey(c.instance);
  });
  assert.equal(new Set(keys).size, 40);
  assert.ok(keys.every((k) => !held.has(k)));
  assert.throws(() => grpoPrompts(1, 5, () => false), /only 0 distinct instructions of the kept levels/);
});

test('measured success per level is the exact-answer share of k samples at temperature 1 (models/default)', async () => {
  const runtime = new Runtime({ threads: 1 });
  try {
    const model = ChatModel.load(path.join(root, 'models', 'default'), runtime, 'm');
    const instructions = grpoPrompts(5, 6).map((p) => p.instruction);
    const levels = await measureLevelSuccess(model, instructions, 3, 11, 16);
    // naive recount from the same samples
    const rows = instructions.flatMap((q) => [q, q, q]);
    const done = await model.complete(rows, { temperature: 1, topP: 1, topK: 0, maxTokens: 16 }, 11, 64);
    const tally = new Map<string, [number, number]>();
    rows.forEach((q, i) => {
      const c = classify(q);
      if (!c.valid) throw new Error(q);
      const key = `${c.family}|${c.difficulty}`;
      const [s, t] = tally.get(key) ?? [0, 0];
      tally.set(key, [s + (reward(q, done[i].text.trim()) === 1 ? 1 : 0), t + 1]);
    });
    assert.deepEqual(new Map(levels.map((l) => [`${l.family}|${l.difficulty}`, [l.successes, l.trials]])), tally);
  } finally {
    await runtime.release();
  }
});

test('experiment paper --grpo-frontier with a bad range: one line', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), 'experiment', 'paper', '--grpo-frontier', '0.9,0.1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: --grpo-frontier: expected lo,hi with 0 <= lo <= hi <= 1 \(e\.g\. 0\.2,0\.8\), got "0\.9,0\.1"\n$/);
});

test('experiment paper --grpo-frontier: measured once, saved, prompts only from the kept levels; reused on a rerun', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'frontier-'));
  const lines: string[] = [];
  const o = { model: path.join(root, 'models', 'default'), budget: 'tiny' as const, seed: 2, out, doc: path.join(out, 'doc.md'), threads: 1, quiet: true, grpoFrontier: { lo: 0.5, hi: 1 }, log: (l: string) => lines.push(l) };
  const file = await writeGrpoPrompts(o);
  const saved = readJson(path.join(out, GRPO_FRONTIER_FILE)) as { levels: { family: string; difficulty: number; rate: number; trials: number }[]; kept: { family: string; difficulty: number }[] };
  assert.deepEqual(saved.levels.map((l) => l.trials), Array(36).fill(2), 'one probe per level, 2 samples each');
  assert.deepEqual(saved.kept, saved.levels.filter((l) => l.rate >= 0.5));
  const kept = new Set(saved.kept.map((l) => `${l.family}|${l.difficulty}`));
  const prompts = readJsonl(file) as { family: string; difficulty: number }[];
  assert.equal(path.basename(file), GRPO_PROMPTS_FILE);
  assert.equal(prompts.length, 16);
  assert.ok(prompts.every((p) => kept.has(`${p.family}|${p.difficulty}`)), 'only kept levels');
  assert.equal(lines.filter((l) => /^frontier: the base model answers/.test(l)).length, 1);
  await writeGrpoPrompts(o);
  assert.equal(lines.filter((l) => /^frontier: the base model answers/.test(l)).length, 1, 'the saved measurement is reused');
  await assert.rejects(writeGrpoPrompts({ ...o, grpoFrontier: null }), /differs from the prompt set of seed 2, budget tiny, frontier null/);
});
