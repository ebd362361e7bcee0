/**
 * The fused output head + target log-prob (src/model/lm-head.ts): chunked, recomputing and keeping variants against
 * the plain path (linear -> log-softmax -> gather) and against finite differences, in float64 graphs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { headLogprobs } from '../src/model/lm-head.ts';
import { analyticGrads, gradcheck, seededUniform } from './helpers/gradcheck.ts';

const N = 6;
const C = 5;
const V = 23;
const targets = [0, 22, 7, 7, 13, 1];
const ints = { t: { shape: [N], values: targets } };
const plain = ([h, w]: T.Tensor[], f: Record<string, T.Tensor>) => T.tokenLogprobs(T.linear(h, w), f.t);

function maxDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

test('head log-probs: every chunking equals the plain log-softmax path (values through the loss, and both gradients)', async () => {
  const inputs = [{ shape: [N, C], values: seededUniform(1, N * C, -2, 2) }, { shape: [V, C], values: seededUniform(2, V * C, -2, 2) }];
  const ref = await analyticGrads('head_plain', inputs, plain, { ints });
  for (const chunk of [undefined, 4, 10, 23, 64]) {
    const got = await analyticGrads(`head_${chunk}`, inputs, ([h, w], f) => headLogprobs(h, w, f.t, { chunk }), { ints });
    const d = Math.max(maxDiff(got.grads[0], ref.grads[0]), maxDiff(got.grads[1], ref.grads[1]));
    console.log(`  chunk ${chunk ?? 'kept'}: max grad diff ${d.toExponential(2)}`);
    assert.ok(d < 1e-12, `chunk ${chunk}: gradients differ from the plain path by ${d}`);
  }
});

test('head log-probs: values equal log-softmax computed on the host', async () => {
  const h = seededUniform(3, N * C, -3, 3);
  const w = seededUniform(4, V * C, -3, 3);
  const g = new T.Graph('head_values', 'float64');
  const hIn = g.input('h', [N, C]);
  const wIn = g.input('w', [V, C]);
  const tIn = g.input('t', [N], 'int64');
  const { runtime } = await import('./helpers/gradcheck.ts');
  for (const chunk of [undefined, 5]) {
    const out = headLogprobs(hIn, wIn, tIn, { chunk });
    const s = await runtime.compile(`head_values_${chunk}`, () => T.toOnnx(g, { out }));
    const r = await s.run({ h: { data: h, dims: [N, C] }, w: { data: w, dims: [V, C] }, t: { data: BigInt64Array.from(targets.map(BigInt)), dims: [N] } });
    let worst = 0;
    for (let n = 0; n < N; n++) {
      const z = Array.from({ length: V }, (_, v) => Array.from({ length: C }, (_, c) => h[n * C + c] * w[v * C + c]).reduce((a, b) => a + b, 0));
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
      worst = Math.max(worst, Math.abs((r.out.data[n] as number) - (z[targets[n]] - lse)));
    }
    console.log(`  chunk ${chunk ?? 'kept'}: max value diff vs host ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-12, `chunk ${chunk}: log-probs differ from the host's by ${worst}`);
  }
});

test('head log-probs: finite differences, chunked and kept, with only one input trainable too', async () => {
  for (const chunk of [undefined, 7]) {
    const d = await gradcheck(`head_fd_${chunk}`, [{ shape: [N, C] }, { shape: [V, C] }], ([h, w], f) => headLogprobs(h, w, f.t, { chunk }), { ints });
    console.log(`  chunk ${chunk ?? 'kept'}: max rel diff ${d.toExponential(2)}`);
  }
  // W frozen (LoRA): only h gets a gradient; h frozen: only W
  const d1 = await gradcheck('head_fd_h', [{ shape: [N, C] }], ([h], f) => headLogprobs(h, f.w, f.t, { chunk: 6 }), {
    ints,
    floats: { w: { shape: [V, C], values: seededUniform(5, V * C) } },
  });
  const d2 = await gradcheck('head_fd_w', [{ shape: [V, C] }], ([w], f) => headLogprobs(f.h, w, f.t, { chunk: 6 }), {
    ints,
    floats: { h: { shape: [N, C], values: seededUniform(6, N * C) } },
  });
  console.log(`  h only ${d1.toExponential(2)}, W only ${d2.toExponential(2)}`);
});

test('at the Llama-3 vocabulary (128,256) the chunked train and log-prob graphs equal the full logits + host log-softmax', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { buildRealModelFolder } = await import('../scripts/make-real-model.ts');
  const { loadModelConfig } = await import('../src/model/config.ts');
  const { loadModelWeights } = await import('../src/model/folder.ts');
  const { ModelEngine, padBatch } = await import('../src/model/engine.ts');
  const { weightedNll } = await import('../src/model/graphs.ts');
  const { KEEP_LOGITS_LIMIT } = await import('../src/model/lm-head.ts');
  const { Runtime } = await import('../src/runtime/runtime.ts');
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-head-')), 'model');
  const rt = new Runtime({ threads: 2 });
  try {
    buildRealModelFolder({ shape: 'tiny', tokenizer: 'llama3', out: dir, seed: 3 });
    const cfg = loadModelConfig(dir);
    const engine = new ModelEngine(cfg, loadModelWeights(dir, cfg).weights, rt, 'head-128k');
    const V = cfg.vocabSize;
    const B = 2;
    const T = 144; // B * (T - 1) * V is above KEEP_LOGITS_LIMIT: the head is chunked and recomputed
    assert.ok(B * (T - 1) * V > KEEP_LOGITS_LIMIT);
    const seqs = Array.from({ length: B }, (_, b) => Array.from({ length: T - 3 * b }, (_, t) => (b * 7919 + t * 104729 + 17) % V));
    const { batch, logits } = await engine.logits(seqs);
    const n = B * (T - 1);
    const step = await engine.trainStep(batch, weightedNll, { token_weights: { data: new Float32Array(n).fill(1 / n), dims: [B, T - 1] } });
    const plain = await engine.logprobs(seqs);
    let worstTrain = 0;
    let worstPlain = 0;
    seqs.forEach((seq, b) => {
      for (let t = 1; t < seq.length; t++) {
        const row = logits.subarray((b * batch.T + t - 1) * V, (b * batch.T + t) * V);
        let m = -Infinity;
        for (let v = 0; v < V; v++) m = Math.max(m, row[v]);
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(row[v] - m);
        const expected = row[seq[t]] - m - Math.log(sum);
        worstTrain = Math.max(worstTrain, Math.abs(step.logprobs[b * (batch.T - 1) + t - 1] - expected));
        worstPlain = Math.max(worstPlain, Math.abs((plain[b][t] as number) - expected));
      }
    });
    console.log(`  V=${V}: train graph max abs diff ${worstTrain.toExponential(2)}, log-prob graph ${worstPlain.toExponential(2)}`);
    assert.ok(worstTrain < 1e-4 && worstPlain < 1e-4, `log-probs differ from host log-softmax by ${worstTrain}, ${worstPlain}`);
    const gradEmbed = step.grads.get('model.embed_tokens.weight')!;
    assert.equal(gradEmbed.length, V * cfg.hiddenSize);
    assert.ok(gradEmbed.every(Number.isFinite), 'the embedding/head gradient is finite');
  } finally {
    await rt.release();
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
