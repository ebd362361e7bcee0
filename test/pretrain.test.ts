import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { learningRate, PRETRAIN_DEFAULTS, pretrain, type PretrainOptions } from '../src/train/pretrain.ts';
import { batchAt, roleAt } from '../src/train/pretrain-data.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';

const tiny = (out: string, steps: number): PretrainOptions => ({
  ...PRETRAIN_DEFAULTS,
  out,
  steps,
  solverOnlySteps: 4,
  batchSize: { solver: 6, challenger: 3, judge: 2 },
  lr: 1e-2,
  warmupSteps: 2,
  model: { hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 1 },
  checkpointEvery: 3,
  saveDtype: 'float32',
  threads: 1,
  quiet: true,
});

/** Largest absolute difference between two weight maps with the same names and shapes. */
function maxWeightDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let max = 0;
  for (const [name, x] of a) x.forEach((v, i) => (max = Math.max(max, Math.abs(v - b.get(name)![i]))));
  return max;
}

const losses = (out: string) => fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('pretrain smoke: a tiny model trains on all three roles, the loss falls, the result loads as an HF folder', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-'));
  const model = await pretrain(tiny(out, 14));
  const log = losses(out);
  assert.equal(log.length, 14);
  assert.deepEqual(new Set(log.map((l) => l.role)), new Set(['solver', 'challenger', 'judge']));
  const solver = log.filter((l) => l.role === 'solver').map((l) => l.loss);
  assert.ok(solver[solver.length - 1] < solver[0] - 0.5, `solver loss should fall: ${solver.map((x) => x.toFixed(3)).join(' ')}`);
  const folder = loadModelFolder(model!);
  assert.ok(folder.tokenizer, 'the model folder carries its tokenizer');
  assert.equal(folder.cfg.numLayers, 1);
});

test('pretrain resume: 3 steps, stop, resume 3 more equals 6 straight (same batches, same weights)', async () => {
  const a = fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-a-'));
  const b = fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-b-'));
  await pretrain(tiny(a, 6));
  assert.equal(await pretrain({ ...tiny(b, 6), maxStepsThisRun: 3 }), null);
  await pretrain(tiny(b, 6));
  const la = losses(a).map((l) => l.loss);
  const lb = losses(b).map((l) => l.loss);
  const diff = Math.max(...la.map((x, i) => Math.abs(x - lb[i])));
  assert.ok(diff <= 1e-5, `losses differ after resume, max diff ${diff}`);
  const wa = loadModelFolder(path.join(a, 'model')).weights;
  const wb = loadModelFolder(path.join(b, 'model')).weights;
  const maxW = maxWeightDiff(wa, wb);
  assert.ok(maxW <= 1e-5, `weights differ after resume, max diff ${maxW}`);
});

test('pretrain --init: the run starts from the given folder (weights and tokenizer), not from a fresh init', async () => {
  const a = fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-init-a-'));
  const b = fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-init-b-'));
  const base = (await pretrain(tiny(a, 5)))!;
  // learning rate 0 (weight decay scales with it): the continued model must equal the one it started from
  const continued = (await pretrain({ ...tiny(b, 3), init: base, solverOnlySteps: 0, lr: 0, seed: 2 }))!;
  const wa = loadModelFolder(base).weights;
  const wb = loadModelFolder(continued).weights;
  const maxW = maxWeightDiff(wa, wb);
  assert.equal(maxW, 0, `continued weights differ from the init's, max diff ${maxW}`);
  assert.equal(fs.readFileSync(path.join(continued, 'tokenizer.json'), 'utf8'), fs.readFileSync(path.join(base, 'tokenizer.json'), 'utf8'));
  const log = losses(b);
  assert.equal(log.length, 3);
  assert.ok(log.every((l) => Number.isFinite(l.loss)), 'finite losses');
});

test('pretrain batches: challenger rows share one Box 1 prompt as prefix, judge rows the Box 3 head; solver first', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-tok-'));
  // a tokenizer from a 1-step run is the quickest way to get the real one
  const plan = { seed: 3, solverOnlySteps: 5, mix: { solver: 1, challenger: 1, judge: 1 }, batchSize: { solver: 4, challenger: 4, judge: 4 }, exclude: new Set<string>() };
  for (let s = 0; s < 5; s++) assert.equal(roleAt(plan, s), 'solver');
  const roles = new Set(Array.from({ length: 60 }, (_, s) => roleAt(plan, s + 5)));
  assert.deepEqual(roles, new Set(['solver', 'challenger', 'judge']));
  return pretrain({ ...tiny(dir, 1), maxStepsThisRun: 1 }).then(() => {
    const tok = loadTokenizer(path.join(dir, 'tokenizer'));
    for (let s = 5; s < 40; s++) {
      const b = batchAt(plan, tok, s);
      const text = tok.decode(b.prefix);
      if (b.role === 'challenger') {
        assert.ok(text.includes('[Start Generation]') && text.endsWith('assistant\n'), 'the whole Box 1 prompt is shared');
        assert.ok(b.promptLengths.every((n) => n === 0));
      }
      if (b.role === 'judge') assert.ok(text.includes('<Instruction>') && !text.includes('</Instruction>'));
      assert.deepEqual(b, batchAt(plan, tok, s), 'batches are a pure function of the step');
    }
  });
});

test('learning rate: linear warmup, cosine down to the floor at the last step', () => {
  const o = { lr: 1, warmupSteps: 10, minLrFraction: 0.1, steps: 110 };
  assert.equal(learningRate(o, 0), 0.1);
  assert.equal(learningRate(o, 9), 1);
  assert.ok(Math.abs(learningRate(o, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(o, 60) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(o, 110) - 0.1) < 1e-12);
});
