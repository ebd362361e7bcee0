/**
 * Generation with the key/value cache against the training path: greedy decoding with the cache must pick the
 * same tokens as recomputing the whole sequence each step, and the sampler's log-probs must equal the training
 * graph's log-probs of the same sequences.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { Generator } from '../src/generate/generator.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { maxRelDiff } from './helpers/compare.ts';

const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());

function engineFor(variant: string): ModelEngine {
  const dir = path.join(import.meta.dirname, 'fixtures', variant);
  const cfg = loadModelConfig(dir);
  return new ModelEngine(cfg, loadModelWeights(dir, cfg).weights, runtime, variant);
}

/** Greedy decoding by recomputing full logits each step (no cache): the reference. */
async function greedyWithoutCache(engine: ModelEngine, prompt: number[], steps: number): Promise<number[]> {
  const seq = [...prompt];
  const V = engine.cfg.vocabSize;
  for (let i = 0; i < steps; i++) {
    const { batch, logits } = await engine.logits([seq]);
    const row = logits.subarray((seq.length - 1) * V, seq.length * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    seq.push(best);
    void batch;
  }
  return seq.slice(prompt.length);
}

const prompts = [
  [1, 5, 9, 3, 7, 7, 2, 11, 4],
  [1, 5, 9, 3, 7, 12],
  [1, 5, 9, 3, 7, 7, 2, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41],
];

for (const variant of ['llama-gqa', 'qwen2-bias', 'llama-tied-mha']) {
  test(`${variant}: cached greedy decoding equals full recomputation; prefix reuse changes nothing`, async () => {
    const engine = engineFor(variant);
    const gen = new Generator(engine);
    const opts = { temperature: 0, topP: 1, topK: 0, maxNewTokens: 12, seed: 1, eosIds: [] };
    const withPrefix = await gen.generate(prompts, opts);
    const without = await gen.generate(prompts, { ...opts, reusePrefix: false });
    for (let b = 0; b < prompts.length; b++) {
      const reference = await greedyWithoutCache(engine, prompts[b], opts.maxNewTokens);
      assert.deepEqual(withPrefix[b].tokens, reference, `row ${b} with prefix reuse`);
      assert.deepEqual(without[b].tokens, reference, `row ${b} without prefix reuse`);
      assert.equal(withPrefix[b].finishReason, 'length');
    }
  });

  test(`${variant}: sampled tokens' log-probs match the training path within 1e-4`, async () => {
    const engine = engineFor(variant);
    const gen = new Generator(engine);
    const out = await gen.generate(prompts, { temperature: 1, topP: 0.95, topK: 0, maxNewTokens: 10, seed: 7, eosIds: [] });
    const full = await engine.logprobs(prompts.map((p, b) => [...p, ...out[b].tokens]));
    let worst = 0;
    out.forEach((g, b) => {
      const train = full[b].slice(prompts[b].length) as number[];
      worst = Math.max(worst, maxRelDiff(g.logprobs, train));
    });
    console.log(`  ${variant}: sampler vs training log-probs, max rel diff ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-4, `max relative difference ${worst}`);
  });
}
test('the cache grows past its first 64 slots (shared prefix kept apart) without changing the tokens or log-probs', async () => {
  const engine = engineFor('llama-gqa');
  const gen = new Generator(engine);
  const long = [prompts[2], [...prompts[2].slice(0, 8), 50, 51]];
  const opts = { temperature: 0, topP: 1, topK: 0, maxNewTokens: 70, seed: 1, eosIds: [] };
  const out = await gen.generate(long, opts);
  const compiled = runtime.compiles.total;
  assert.deepEqual((await gen.generate(long, opts)).map((g) => g.tokens), out.map((g) => g.tokens));
  assert.equal(runtime.compiles.total, compiled, 'the same generation again compiles no graph');
  assert.deepEqual(out[0].tokens, await greedyWithoutCache(engine, long[0], opts.maxNewTokens), 'row 0 vs recomputation');
  const full = await engine.logprobs(long.map((p, b) => [...p, ...out[b].tokens]));
  let worst = 0;
  out.forEach((g, b) => (worst = Math.max(worst, maxRelDiff(g.logprobs, full[b].slice(long[b].length) as number[]))));
  console.log(`  grown cache: sampler vs training log-probs, max rel diff ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `max relative difference ${worst}`);
});

test('sampling is reproducible by seed, and EOS and stop conditions end rows', async () => {
  const engine = engineFor('llama-gqa');
  const gen = new Generator(engine);
  const opts = { temperature: 1, topP: 1, topK: 5, maxNewTokens: 8, seed: 3, eosIds: [] as number[] };
  const a = await gen.generate(prompts, opts);
  const b = await gen.generate(prompts, opts);
  assert.deepEqual(a.map((g) => g.tokens), b.map((g) => g.tokens));
  const c = await gen.generate(prompts, { ...opts, seed: 4 });
  assert.notDeepEqual(a.map((g) => g.tokens), c.map((g) => g.tokens));
  const eos = a[0].tokens[2];
  const ended = await gen.generate(prompts, { ...opts, eosIds: [eos] });
  assert.equal(ended[0].finishReason, 'eos');
  assert.equal(ended[0].tokens.at(-1), eos);
  assert.ok(ended[0].tokens.length <= 3);
  const stopped = await gen.generate(prompts, { ...opts, shouldStop: (t) => t.length === 2 });
  assert.ok(stopped.every((g) => g.tokens.length === 2 && g.finishReason === 'stop'));
});
