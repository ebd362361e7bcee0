/**
 * LocalBackend (src/backend/local.ts) through the PolicyBackend interface alone, on a tiny world model:
 * sample -> reference logprobs -> forwardBackward -> optimStep, with
 * (a) the Tinker-style `importance_sampling` loss on rows whose KL pull is folded into per-token advantages
 *     (sequence fold) giving the gradient of the exact local `policy_reward` loss on the same rows, on-policy;
 * (b) a skipped optimStep leaving the policy as it was, and a bad importance-sampling row named;
 * (c) saveState -> loadState in a fresh backend restoring the policy's log-probs exactly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { TrainRow } from '../src/backend/backend.ts';
import { LocalBackend } from '../src/backend/local.ts';
import { InputError } from '../src/errors.ts';
import { foldKlIntoAdvantages } from '../src/rl/kl-fold.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { expectClose } from './helpers/compare.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const model = tinyWorldModel(7);
const runtime = new Runtime({ threads: 1 });
after(() => runtime.release());

const make = () => new LocalBackend({ model, chatTemplate: null, lora: null, seed: 3, runtime, adam: { lr: 0.02, weightDecay: 0, gradClip: 0 } });
const SAMPLING = { temperature: 1, topP: 1, topK: 0, maxTokens: 6, seed: 9, stop: [] as number[] };

/** On-policy rows: n samples of two prompts, with their sampler and reference log-probs, advantages and KL weights. */
async function rows(b: LocalBackend, seed: number): Promise<TrainRow[]> {
  const prompts = [b.referenceModel.promptIds('reverse: a b c'), b.referenceModel.promptIds('count the words: x y')];
  const gens = await b.policy.sample(prompts, 2, { ...SAMPLING, seed });
  assert.equal(gens.length, 4, 'n = 2 samples of each of 2 prompts');
  const base = gens.map((g, i) => ({ promptIds: prompts[Math.floor(i / 2)], tokens: g.tokens }));
  const ref = await b.reference.logprobs(base, 4);
  return base.map((r, i) => ({ ...r, samplerLogprobs: gens[i].logprobs, refLogprobs: ref[i], advantage: [0.4, -0.4, 0.25, -0.25][i], klCoef: 0.5 }));
}

/** The gradient optimStep is about to apply, captured from the backend's optimizer. */
function captureGrads(b: LocalBackend): () => Map<string, Float32Array> {
  let seen = new Map<string, Float32Array>();
  const step = b.optimizer.step.bind(b.optimizer);
  b.optimizer.step = (params, grads, lr, norm) => {
    seen = new Map([...grads].map(([n, g]) => [n, Float32Array.from(g)]));
    return step(params, grads, lr, norm);
  };
  return () => seen;
}

test('importance sampling on sequence-folded advantages = the exact reward-estimator loss, through the interface', async () => {
  const b = make();
  b.start();
  const grads = captureGrads(b);
  // one step away from the reference first, so the KL pull is not zero
  await b.forwardBackward(await rows(b, 1), 'policy_reward', 4);
  assert.equal((await b.optimStep({ learningRate: 0.05 })).applied, true);
  await b.saveWeightsForSampler();
  const r = await rows(b, 2);
  const kl = r.map((row) => row.samplerLogprobs.reduce((a, q, t) => a + q - row.refLogprobs[t], 0));
  assert.ok(kl.some((x) => Math.abs(x) > 1e-3), `the policy moved away from the reference (sequence log-ratios ${kl})`);
  await b.forwardBackward(r, 'policy_reward', 4);
  const exact = await b.optimStep({ learningRate: 0 });
  const want = grads();
  // on-policy: the sampler's log-probs are the current policy's (the sampler reads the same weights)
  const folded = r.map((row) => ({ ...row, tokenAdvantages: foldKlIntoAdvantages(row.advantage, row.klCoef, row.samplerLogprobs, row.refLogprobs) }));
  await b.forwardBackward(folded, 'importance_sampling', 4);
  const is = await b.optimStep({ learningRate: 0 });
  const got = grads();
  const names = [...want.keys()];
  assert.deepEqual([...got.keys()].sort(), [...names].sort());
  expectClose('importance_sampling (sequence fold) vs policy_reward gradient', names.flatMap((n) => [...got.get(n)!]), names.flatMap((n) => [...want.get(n)!]), 1e-5);
  expectClose('grad norm', [is.gradNorm], [exact.gradNorm], 1e-5);
  assert.ok(exact.gradNorm > 0);
});

test('a skipped step leaves the policy and drops the gradient; an importance-sampling row without per-token advantages is named', async () => {
  const b = make();
  b.start();
  const r = await rows(b, 4);
  const before = await b.policy.logprobs(r, 4);
  await b.forwardBackward(r, 'policy_k3', 4);
  const skipped = await b.optimStep({ learningRate: 0.1 }, true);
  assert.equal(skipped.applied, false);
  assert.ok(skipped.gradNorm > 0);
  assert.deepEqual(await b.policy.logprobs(r, 4), before, 'the weights did not move');
  const next = await b.optimStep({ learningRate: 0.1 });
  assert.equal(next.gradNorm, 0, 'the skipped gradient was cleared');
  await assert.rejects(b.forwardBackward(r, 'importance_sampling', 4), (e: Error) => e instanceof InputError && /row 0 needs tokenAdvantages/.test(e.message));
});

test('saveState -> loadState in a fresh backend restores the policy exactly', async () => {
  const b = make();
  b.start();
  const r = await rows(b, 5);
  await b.forwardBackward(r, 'policy_reward', 4);
  await b.optimStep({ learningRate: 0.05 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-state-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const saved = b.saveState(dir, dir);
  assert.equal(saved.optimizerStep, 1);
  const c = make();
  c.loadState(dir, saved);
  assert.deepEqual(await c.policy.logprobs(r, 4), await b.policy.logprobs(r, 4));
  assert.notDeepEqual(await c.reference.logprobs(r, 4), await c.policy.logprobs(r, 4), 'the reference stayed the base model');
  assert.equal(c.optimizer.state.step, 1);
});
