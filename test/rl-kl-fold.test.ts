/**
 * The KL pull folded into per-token advantages (src/rl/kl-fold.ts) with the importance-sampling loss
 * (src/rl/losses.ts), as a Tinker-style engine computes it, against the exact local `reward` estimator:
 * (a) the three folds on a hand example; (b) on a tiny Llama, on-policy (the sampler's log-probs are the policy's
 * own), the `sequence` fold gives the `reward` estimator's gradient within 1e-5, and the `to-go` and `token` folds
 * do not (they agree only in expectation, or not at all); (c) the importance-sampling loss value off-policy against
 * the host formula.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine, padBatch } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { foldKlIntoAdvantages, KL_FOLDS } from '../src/rl/kl-fold.ts';
import { importanceSamplingLoss, policyLoss } from '../src/rl/losses.ts';
import { type HostTensor, Runtime } from '../src/runtime/runtime.ts';
import { Rng } from '../src/util/rng.ts';
import { expectClose, maxRelDiff } from './helpers/compare.ts';

const runtime = new Runtime({ threads: 1 });
after(() => runtime.release());

test('folds: sequence, to-go and token advantages on a hand example', () => {
  // r = q - ref = [0.5, -0.25, 1]; A = 2, c = 0.1
  const q = [-1, -2, -0.5];
  const ref = [-1.5, -1.75, -1.5];
  const close = (got: number[], want: number[]) => got.forEach((g, t) => assert.ok(Math.abs(g - want[t]) < 1e-12, `${got} vs ${want}`));
  close(foldKlIntoAdvantages(2, 0.1, q, ref, 'sequence'), [2 - 0.125, 2 - 0.125, 2 - 0.125]);
  close(foldKlIntoAdvantages(2, 0.1, q, ref, 'to-go'), [2 - 0.125, 2 - 0.075, 2 - 0.1]);
  close(foldKlIntoAdvantages(2, 0.1, q, ref, 'token'), [2 - 0.05, 2 + 0.025, 2 - 0.1]);
  assert.deepEqual(foldKlIntoAdvantages(2, 0.1, [], [], 'to-go'), []);
  assert.throws(() => foldKlIntoAdvantages(1, 0.1, [0, 0], [0]), /2 sampler log-probs but 1 reference/);
});

const fixture = path.join(import.meta.dirname, 'fixtures', 'llama-gqa');
const SEQUENCES = [[1, 5, 9, 13, 2, 40, 41], [1, 7, 3, 30, 31, 32, 33, 34, 2], [1, 11, 20, 21]];
const PROMPT_LENGTHS = [4, 3, 2];
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const f32 = (xs: number[] | number[][], dims: number[]): HostTensor => ({ data: Float32Array.from(xs.flat()), dims });

test('tiny Llama, on-policy: the sequence fold + importance sampling has the reward estimator\'s gradient', async () => {
  const cfg = loadModelConfig(fixture);
  const engine = new ModelEngine(cfg, loadModelWeights(fixture, cfg).weights, runtime, 'kl-fold');
  const batch = padBatch(SEQUENCES, cfg.vocabSize);
  const { B, T } = batch;
  const W = T - 1; // entry t predicts token t + 1
  const q = (await engine.logprobs(SEQUENCES)).map((row) => range(W).map((t) => (row[t + 1] ?? 0) as number));
  const mask = SEQUENCES.map((seq, b) => range(W).map((t) => (t + 1 >= PROMPT_LENGTHS[b] && t + 1 < seq.length ? 1 : 0)));
  const rng = new Rng(5);
  const ref = q.map((row, b) => row.map((x, t) => (mask[b][t] ? x + (rng.next() - 0.5) : 0)));
  const adv = [0.3, -0.2, -0.1];
  const coef = [0.5, 0.2, 0.8]; // large, so the KL term is a visible part of the gradient
  const exact = await engine.trainStep(batch, policyLoss('reward'), {
    advantages: f32(adv, [B]), kl_coef: f32(coef, [B]), token_mask: f32(mask, [B, W]), ref_logprobs: f32(ref, [B, W]),
  });
  const names = [...exact.grads.keys()];
  const want = names.flatMap((n) => [...exact.grads.get(n)!]);
  assert.ok(want.some((x) => Math.abs(x) > 1e-4), 'the reference gradient is not trivially zero');
  const noKl = await engine.trainStep(batch, policyLoss('reward'), {
    advantages: f32(adv, [B]), kl_coef: f32([0, 0, 0], [B]), token_mask: f32(mask, [B, W]), ref_logprobs: f32(ref, [B, W]),
  });
  const withoutKl = names.flatMap((n) => [...noKl.grads.get(n)!]);
  assert.ok(maxRelDiff(withoutKl, want) > 1e-2, 'the KL pull moves the gradient (else the comparison shows nothing)');
  const diffs: Record<string, number> = {};
  for (const fold of KL_FOLDS) {
    // per row: fold over its sampled tokens (the masked entries), zero elsewhere
    const advTokens = q.map((row, b) => {
      const at = range(W).filter((t) => mask[b][t]);
      const folded = foldKlIntoAdvantages(adv[b], coef[b], at.map((t) => row[t]), at.map((t) => ref[b][t]), fold);
      const out = row.map(() => 0);
      at.forEach((t, k) => (out[t] = folded[k]));
      return out;
    });
    const is = await engine.trainStep(batch, importanceSamplingLoss(), {
      target_advantages: f32(advTokens, [B, W]), sampler_logprobs: f32(q, [B, W]), token_mask: f32(mask, [B, W]),
    });
    const got = names.flatMap((n) => [...is.grads.get(n)!]);
    diffs[fold] = fold === 'sequence' ? expectClose(`${fold} fold vs reward estimator (all ${names.length} parameters)`, got, want, 1e-5) : maxRelDiff(got, want);
    if (fold !== 'sequence') console.log(`  ${fold} fold vs reward estimator: max rel diff ${diffs[fold].toExponential(2)} (differs per sample)`);
  }
  assert.ok(diffs['to-go'] > 1e-3 && diffs.token > 1e-3, 'the to-go and token folds are not the same per-sample gradient');
  // off-policy, the loss value is -sum mask exp(logp - q) A (host), with logp the policy's own log-probs
  const stale = q.map((row, b) => row.map((x, t) => (mask[b][t] ? x + 0.3 * (rng.next() - 0.5) : 0)));
  const A = mask.map((row, b) => row.map((m) => m * (adv[b] + 0.1 * b)));
  const off = await engine.trainStep(batch, importanceSamplingLoss(), { target_advantages: f32(A, [B, W]), sampler_logprobs: f32(stale, [B, W]), token_mask: f32(mask, [B, W]) });
  const host = -q.reduce((a, row, b) => a + row.reduce((s2, x, t) => s2 + mask[b][t] * Math.exp(x - stale[b][t]) * A[b][t], 0), 0);
  expectClose('importance-sampling loss off-policy vs host', [off.loss], [host], 1e-5);
});
