/**
 * The model path against PyTorch: tiny random Llama/Qwen2 models made by scripts/make_fixtures.py (an independent
 * plain-PyTorch implementation, float64). Logits, per-token log-probs, loss and every parameter gradient.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine, padBatch } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { weightedNll } from '../src/model/graphs.ts';
import { readSafetensors } from '../src/model/safetensors.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { expectClose } from './helpers/compare.ts';

const TOL = 1e-4;
const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());

function loadFixture(variant: string) {
  const dir = path.join(import.meta.dirname, 'fixtures', variant);
  const cfg = loadModelConfig(dir);
  const { weights } = loadModelWeights(dir, cfg);
  const expected = readSafetensors(path.join(dir, 'expected.safetensors')).tensors;
  const ids = expected.get('input_ids')!;
  const mask = expected.get('attention_mask')!;
  const [B, T] = ids.shape;
  const sequences: number[][] = [];
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    for (let t = 0; t < T; t++) if (mask.data[b * T + t]) row.push(Number(ids.data[b * T + t]));
    sequences.push(row);
  }
  const f32 = (name: string) => expected.get(name)!.data as Float32Array;
  return { cfg, engine: new ModelEngine(cfg, weights, runtime, variant), sequences, B, T, f32, expected };
}

for (const variant of ['llama-gqa', 'llama-tied-mha', 'qwen2-bias', 'llama-headdim']) {
  test(`${variant}: logits, log-probs, loss and all gradients match PyTorch`, async () => {
    const { cfg, engine, sequences, B, T, f32, expected } = loadFixture(variant);
    const V = cfg.vocabSize;
    const { batch, logits } = await engine.logits(sequences);
    const ours: number[] = [];
    const ref: number[] = [];
    const refLogits = f32('logits');
    sequences.forEach((seq, b) => {
      for (let t = 0; t < seq.length; t++) {
        for (let v = 0; v < V; v++) {
          ours.push(logits[(b * batch.T + t) * V + v]);
          ref.push(refLogits[(b * T + t) * V + v]);
        }
      }
    });
    expectClose(`${variant} logits`, ours, ref, TOL);

    const lp = await engine.logprobs(sequences);
    const refLp = f32('logprobs');
    const lpOurs = lp.flatMap((row) => row.slice(1) as number[]);
    const lpRef = sequences.flatMap((seq, b) => Array.from(refLp.slice(b * T + 1, b * T + seq.length)));
    expectClose(`${variant} logprobs`, lpOurs, lpRef, TOL);
    assert.ok(lp.every((row) => row[0] === null));

    const padded = padBatch(sequences, V);
    const count = sequences.reduce((n, s) => n + s.length - 1, 0);
    const weights = new Float32Array(padded.B * (padded.T - 1));
    sequences.forEach((seq, b) => {
      for (let t = 1; t < seq.length; t++) weights[b * (padded.T - 1) + t - 1] = 1 / count;
    });
    const step = await engine.trainStep(padded, weightedNll, { token_weights: { data: weights, dims: [padded.B, padded.T - 1] } });
    expectClose(`${variant} loss`, [step.loss], f32('loss'), TOL);
    let gradCount = 0;
    for (const [name, g] of step.grads) {
      const refGrad = expected.get(`grad.${name}`);
      assert.ok(refGrad, `fixture has no gradient for ${name}`);
      const d = expectClose(`${variant} grad ${name}`, g, refGrad.data as Float32Array, TOL);
      void d;
      gradCount++;
    }
    assert.equal(gradCount, engine.weights.size, 'every parameter has a gradient');
    void B;
  });
}
