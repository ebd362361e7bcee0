/** The shared-prefix train graph equals training on the full concatenations prefix + row (loss and every gradient). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine, padBatch } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { weightedNll } from '../src/model/graphs.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { expectClose } from './helpers/compare.ts';

const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());

for (const variant of ['llama-gqa', 'qwen2-bias']) {
  test(`${variant}: shared-prefix loss and gradients equal the unshared ones`, async () => {
    const dir = path.join(import.meta.dirname, 'fixtures', variant);
    const cfg = loadModelConfig(dir);
    const engine = new ModelEngine(cfg, loadModelWeights(dir, cfg).weights, runtime, variant);
    const prefix = [1, 9, 8, 7, 6, 5, 4, 3, 2, 10, 11];
    const rows = [[20, 21, 22, 23], [30, 31], [40, 41, 42, 43, 44, 45, 46]];
    const count = rows.reduce((n, r) => n + r.length, 0);
    // shared: log-probs [B, T] of the rows' tokens
    const shared = padBatch(rows, cfg.vocabSize);
    const wShared = new Float32Array(shared.B * shared.T);
    rows.forEach((r, b) => r.forEach((_, t) => (wShared[b * shared.T + t] = 1 / count)));
    const a = await engine.trainStepShared(prefix, shared, weightedNll, { token_weights: { data: wShared, dims: [shared.B, shared.T] } });
    // unshared: the same tokens inside full sequences, [B, T-1] indexing (entry j predicts token j+1)
    const full = padBatch(rows.map((r) => [...prefix, ...r]), cfg.vocabSize);
    const wFull = new Float32Array(full.B * (full.T - 1));
    rows.forEach((r, b) => r.forEach((_, t) => (wFull[b * (full.T - 1) + prefix.length + t - 1] = 1 / count)));
    const b = await engine.trainStep(full, weightedNll, { token_weights: { data: wFull, dims: [full.B, full.T - 1] } });
    expectClose(`${variant} loss`, [a.loss], [b.loss], 1e-5);
    assert.equal(a.grads.size, b.grads.size);
    let worst = 0;
    for (const [name, g] of a.grads) worst = Math.max(worst, expectClose(`${variant} ${name}`, g, b.grads.get(name)!, 1e-4));
    console.log(`  ${variant}: worst gradient difference ${worst.toExponential(2)}`);
  });
}
