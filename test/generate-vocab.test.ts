/**
 * Padded embeddings: many HF models have more embedding rows (config vocab_size) than the tokenizer has tokens.
 * Those ids have no text and must never be sampled. Checked in the sampler (against the exact distribution over
 * the allowed ids) and in the generator (against a full-recomputation argmax restricted to the allowed ids).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { InputError } from '../src/errors.ts';
import { Generator } from '../src/generate/generator.ts';
import { sampleToken } from '../src/generate/sampler.ts';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { Rng } from '../src/util/rng.ts';

const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());

test('sampler: ids >= V are never drawn; the allowed ids keep their renormalised probabilities', () => {
  // row of 8 log-probs; the two padded ids (6, 7) are by far the most likely
  const lp = Float32Array.from([0.1, 0.2, 0.05, 0.15, 0.25, 0.25, 50, 50].map((p) => Math.log(p)));
  const V = 6;
  const expected = [...lp.subarray(0, V)].map(Math.exp);
  const total = expected.reduce((a, b) => a + b, 0);
  const counts = new Array<number>(8).fill(0);
  const rng = new Rng(5);
  const draws = 40_000;
  for (let i = 0; i < draws; i++) counts[sampleToken(lp, 0, V, { temperature: 1, topP: 1, topK: 0 }, rng)]++;
  assert.equal(counts[6] + counts[7], 0, 'padded ids drawn');
  const maxDiff = Math.max(...expected.map((p, v) => Math.abs(counts[v] / draws - p / total)));
  console.log(`  sampler frequencies vs renormalised probabilities: max abs diff ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff < 0.01, `max abs frequency difference ${maxDiff}`);
  assert.equal(sampleToken(lp, 0, V, { temperature: 0, topP: 1, topK: 0 }, rng), 4, 'greedy: first argmax below V');
  assert.ok(sampleToken(lp, 0, V, { temperature: 1, topP: 0.3, topK: 2 }, rng) < V);
});

function engineFor(variant: string): ModelEngine {
  const dir = path.join(import.meta.dirname, 'fixtures', variant);
  const cfg = loadModelConfig(dir);
  return new ModelEngine(cfg, loadModelWeights(dir, cfg).weights, runtime, variant);
}

const prompts = [
  [1, 5, 9, 3, 7, 7, 2, 11, 4],
  [1, 5, 9, 3, 7, 12],
];

test('generator: with sampleableVocab, ids beyond it never appear; greedy = restricted argmax of full logits', async () => {
  const engine = engineFor('llama-gqa'); // 64 embedding rows; pretend the tokenizer has 40 tokens
  const allowed = 40;
  const gen = new Generator(engine);
  const hot = { temperature: 3, topP: 1, topK: 0, maxNewTokens: 24, seed: 11, eosIds: [] };
  const free = await gen.generate(prompts, hot);
  assert.ok(free.some((g) => g.tokens.some((t) => t >= allowed)), 'unrestricted sampling should reach the high ids (test is meaningful)');
  const masked = await gen.generate(prompts, { ...hot, sampleableVocab: allowed });
  assert.ok(masked.every((g) => g.tokens.every((t) => t < allowed)), 'a padded id was sampled');

  const greedy = await gen.generate(prompts, { ...hot, temperature: 0, maxNewTokens: 10, sampleableVocab: allowed });
  const V = engine.cfg.vocabSize;
  for (let b = 0; b < prompts.length; b++) {
    const seq = [...prompts[b]];
    for (let i = 0; i < 10; i++) {
      const { logits } = await engine.logits([seq]);
      const row = logits.subarray((seq.length - 1) * V, (seq.length - 1) * V + allowed);
      seq.push(row.indexOf(Math.max(...row)));
    }
    assert.deepEqual(greedy[b].tokens, seq.slice(prompts[b].length), `row ${b}`);
  }
  await assert.rejects(gen.generate(prompts, { ...hot, sampleableVocab: 0 }), InputError);
});
