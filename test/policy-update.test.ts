/**
 * The policy-gradient pass with a shared prompt prefix computed once (src/backend/local-policy.ts) against the plain
 * path over the full sequences: same loss, gradients, train-path log-probs and reference log-probs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { policyLoss } from '../src/rl/losses.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { type PolicyRow, policyGradient, referenceLogprobs } from '../src/backend/local-policy.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelDiff } from './helpers/compare.ts';

const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());

const dir = path.join(import.meta.dirname, 'fixtures', 'llama-gqa');
const cfg = loadModelConfig(dir);
const engine = new ModelEngine(cfg, loadModelWeights(dir, cfg).weights, runtime, 'policy-update');

function rows(): PolicyRow[] {
  const rng = new Rng(4);
  const id = () => rng.int(1, cfg.vocabSize - 1);
  const common = Array.from({ length: 37 }, id);
  return Array.from({ length: 5 }, (_, b) => {
    const tokens = Array.from({ length: 2 + b }, id);
    return {
      promptIds: [...common, ...Array.from({ length: 1 + ((3 * b) % 4) }, id)],
      tokens,
      refLogprobs: tokens.map(() => -2 - rng.next()),
      samplerLogprobs: tokens.map(() => -3),
      advantage: rng.next() - 0.5,
      klCoef: 0.05 * (b + 1),
    };
  });
}

test('a shared prompt prefix computed once gives the loss, gradients and log-probs of the plain path', async () => {
  for (const estimator of ['reward', 'k3'] as const) {
    const loss = policyLoss(estimator);
    const shared = await policyGradient(engine, rows(), loss, 3);
    const plain = await policyGradient(engine, rows(), loss, 3, undefined, false);
    const lossDiff = Math.abs(shared.loss - plain.loss) / Math.max(1, Math.abs(plain.loss));
    let worst = 0;
    for (const [name, g] of plain.grads) worst = Math.max(worst, maxRelDiff(shared.grads.get(name)!, g));
    console.log(`  ${estimator}: loss rel diff ${lossDiff.toExponential(2)}, gradients max rel diff ${worst.toExponential(2)}`);
    assert.ok(lossDiff < 1e-5, `loss ${shared.loss} vs ${plain.loss}`);
    assert.ok(worst < 1e-4, `gradients differ by ${worst}`);
    assert.ok(Math.abs(shared.logpDiff - plain.logpDiff) < 1e-4, `train-path log-probs: ${shared.logpDiff} vs ${plain.logpDiff}`);
    assert.equal(shared.tokens, plain.tokens);
  }
  const refShared = (await referenceLogprobs(engine, rows(), 2)).flat();
  const refPlain = (await referenceLogprobs(engine, rows(), 2, false)).flat();
  const d = maxRelDiff(refShared, refPlain);
  console.log(`  reference log-probs: max rel diff ${d.toExponential(2)}`);
  assert.equal(refShared.length, rows().reduce((n, r) => n + r.tokens.length, 0));
  assert.ok(d < 1e-4, `reference log-probs differ by ${d}`);
});

test('LoRA: the policy shares the frozen base arrays with the reference, and the optimizer keeps state for adapters only', async () => {
  const { initLora, loraShapes } = await import('../src/model/lora.ts');
  const { AdamW } = await import('../src/optim/adamw.ts');
  const lora = { rank: 2, alpha: 4, targets: ['q_proj', 'down_proj'] as ('q_proj' | 'down_proj')[] };
  const reference = new ModelEngine(cfg, loadModelWeights(dir, cfg).weights, runtime, 'ref');
  const weights = new Map([...reference.weights, ...initLora(cfg, lora, 1)]); // as src/train/lsp.ts builds the policy
  const policy = new ModelEngine(cfg, weights, runtime, 'lora-policy', lora);
  const before = new Map([...reference.weights].map(([n, d]) => [n, Float32Array.from(d)]));
  const opt = new AdamW({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 });
  const g = await policyGradient(policy, rows(), policyLoss('reward'), 3);
  opt.step(policy.weights, g.grads);
  const adapters = [...loraShapes(cfg, lora).keys()].sort();
  assert.deepEqual([...g.grads.keys()].sort(), adapters, 'gradients for the adapters only');
  assert.deepEqual([...opt.state.m.keys()].sort(), adapters, 'first moments for the adapters only');
  assert.deepEqual([...opt.state.v.keys()].sort(), adapters, 'second moments for the adapters only');
  for (const [name, data] of reference.weights) {
    assert.equal(policy.weights.get(name), data, `${name}: the policy holds the reference's array itself, not a copy`);
    assert.deepEqual(data, before.get(name), `${name}: the frozen base did not move`);
  }
  assert.ok(adapters.some((n) => policy.weights.get(n)!.some((x, i) => x !== initLora(cfg, lora, 1).get(n)![i])), 'the adapters moved');
});
