import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { resolveConfig } from '../src/rl/config.ts';
import { checkGuards, type GuardPoint, type GuardThresholds } from '../src/train/guards.ts';
import { readJsonl } from '../src/train/run-folder.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const T: GuardThresholds = resolveConfig({}).guards;
const DIVERSE = ['Reverse the word: lokem.', 'Sort in ascending order: 3, 1, 2', 'What is 12 plus 7?', 'Write cat in capital letters.'];

function point(i: number, over: Partial<GuardPoint> = {}): GuardPoint {
  return { iteration: i, validFrac: 0.9, zeroStdFrac: 0.3, selfReward: 4, verifierReward: 0.6, answerLength: 6, klSolver: 0.1, klChallenger: 0.2, queries: DIVERSE.map((q) => `${q} ${i}`), ...over };
}
/** A healthy run of `n` iterations, with `late` applied to the second half. */
const run = (n: number, late: Partial<GuardPoint> = {}) => Array.from({ length: n }, (_, k) => point(k + 1, k >= n / 2 ? late : {}));
const tripped = (h: GuardPoint[], t = T) => checkGuards(h, t).map((x) => x.guard);

test('guards: a healthy run trips nothing; short histories are not judged on windows', () => {
  assert.deepEqual(tripped(run(12)), []);
  assert.deepEqual(tripped(run(2, { validFrac: 0 })), [], 'two iterations are less than two windows of 3');
  assert.deepEqual(tripped([]), []);
});

test('guards: each failure trips its own guard, and only past its threshold', () => {
  assert.deepEqual(tripped(run(6, { validFrac: 0.3 })), ['valid_queries']);
  assert.deepEqual(tripped(run(6, { validFrac: 0.5 })), [], 'a drop of 44% stays under validDrop 0.5');
  assert.deepEqual(tripped(run(6, { queries: ['Reverse the word: lokem.', 'Reverse the word: lokem.'] })), ['diversity']);
  assert.deepEqual(tripped(run(6, { zeroStdFrac: 0.95 })), ['equal_rewards']);
  assert.deepEqual(tripped(run(6, { zeroStdFrac: 0.85 })), [], 'under the threshold');
  assert.deepEqual(tripped(run(6, { selfReward: 5.5, verifierReward: 0.4 })), ['judge_gamed']);
  assert.deepEqual(tripped(run(6, { selfReward: 5.5 })), [], 'self-reward rising with the verifier is learning, not gaming');
  assert.deepEqual(tripped(run(6, { answerLength: 19 })), ['answer_length']);
  assert.deepEqual(tripped(run(6, { answerLength: 17 })), []);
  assert.deepEqual(tripped([point(1, { klChallenger: 11 })]), ['kl'], 'KL is checked from the first iteration');
  assert.deepEqual(tripped([point(1, { klChallenger: NaN, klSolver: 9 })]), [], 'a NaN role (grpo) is ignored');
});

test('guards: the diversity guard sees distinct-2 collapse even when every text differs', () => {
  // the same words with one digit changed: unique share stays 1, distinct-2 falls
  const h = run(6).map((p) => (p.iteration > 3 ? { ...p, queries: [0, 1, 2, 3].map((k) => `Reverse the word: lokem lokem lokem lokem ${p.iteration}${k}`) } : p));
  assert.equal(new Set(h.slice(3).flatMap((p) => p.queries)).size, 12, 'every late query text is distinct');
  const trips = checkGuards(h, T);
  assert.deepEqual(trips.map((x) => x.guard), ['diversity']);
  assert.match(trips[0].message, /distinct-2 fell from/);
  assert.deepEqual(tripped(h, { ...T, diversityDrop: 0.9 }), [], 'a looser threshold lets it pass');
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const selfplay = (args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8', timeout: 240_000 });

test('guards in a run: a challenger collapsing to one repeated query trips the diversity guard; --on-collapse stop checkpoints and ends', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-run-'));
  const out = path.join(dir, 'run');
  const small = { maxTokens: 8 };
  const config = {
    model: tinyWorldModel(), mode: 'lsp-zero', N: 3, G: 2, iterations: 3, lr: 1e-2, checkpointEvery: 1, seed: 3,
    sampling: { challenger: small, solver: small, judge: small },
    // the random tiny model earns no verifier reward, so every group is all-equal: leave that guard out here
    guards: { equalRewardsFrac: 1 },
  };
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(config));
  const first = selfplay(['train', '--config', path.join(dir, 'cfg.json'), '--out', out, '--quiet', '--threads', '1']);
  assert.equal(first.status, 0, first.stderr);
  assert.doesNotMatch(first.stderr, /guard \w+:|GUARD/, 'three sampled iterations trip nothing');
  // the script: from iteration 4 the challenger answers one fixed prompt greedily, so it repeats one query
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  saved.sampling.challenger.temperature = 0;
  saved.tasks = [{ task: 'reverse', template: 'Reverse the word: {word}.' }];
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(saved));
  const second = selfplay(['train', '--resume', out, '--iterations', '12', '--on-collapse', 'stop', '--quiet', '--threads', '1']);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /guard diversity: (query distinct-2|unique-query share) fell/);
  assert.match(second.stderr, /stopped; the run is saved/);
  const metrics = readJsonl(path.join(out, 'metrics.jsonl'));
  assert.equal(metrics.length, 6, 'stopped at iteration 6, the first with a whole collapsed window');
  assert.deepEqual((metrics[5].guards as { guard: string }[]).map((g) => g.guard), ['diversity']);
  assert.equal(metrics[5]['guard/tripped'], 1);
  assert.ok(fs.existsSync(path.join(out, 'checkpoints', 'iter-000006', 'optimizer.safetensors')), 'the stop saved a checkpoint');
  const queries = readJsonl(path.join(out, 'samples.jsonl')).filter((s) => (s.iteration as number) > 3).map((s) => s.query);
  assert.ok(new Set(queries).size <= 3, `the scripted challenger repeats itself: ${new Set(queries).size} distinct of ${queries.length}`);
});
