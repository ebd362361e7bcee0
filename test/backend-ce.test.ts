/**
 * LocalBackend.forwardBackwardCrossEntropy (src/backend/local.ts, local-policy.ts) through the PolicyBackend
 * interface, on a tiny world model, against a naive reference: the logits graph (no loss, no prefix sharing) and a
 * float64 log-softmax in TypeScript give sum w_k * -log p(token_k); finite differences of that reference give the
 * gradient of single weights. Covered: rows sharing one whole prompt (challenger), rows sharing a long head then
 * differing (judge), short distinct prompts (plain graph), micro-batching, accumulation over calls, bad rows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { CrossEntropyRow } from '../src/backend/backend.ts';
import { LocalBackend } from '../src/backend/local.ts';
import { initWeights } from '../src/backend/random-init.ts';
import { InputError } from '../src/errors.ts';
import { parseModelConfig } from '../src/model/config.ts';
import { readSafetensors } from '../src/model/safetensors.ts';
import { makeWorldTokenizer, worldModelConfig } from '../src/train/pretrain.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const model = tinyWorldModel(5);
const runtime = new Runtime({ threads: 1 });
after(() => runtime.release());

/** lr 0 and no decay: optimStep leaves the weights as they are, so the gradient can be captured and checked. */
function make(): LocalBackend {
  const b = new LocalBackend({ model, chatTemplate: null, lora: null, seed: 3, runtime, adam: { lr: 0, weightDecay: 0, gradClip: 0 } });
  b.start();
  return b;
}

/** Counts the engine's shared-prefix train steps. */
function countShared(b: LocalBackend): () => number {
  const engine = b.policyModel.engine;
  let n = 0;
  const orig = engine.trainStepShared.bind(engine);
  engine.trainStepShared = (...a) => (n++, orig(...a));
  return () => n;
}

/** The gradient optimStep applies, copied. */
async function stepGrads(b: LocalBackend): Promise<{ grads: Map<string, Float32Array>; gradNorm: number }> {
  let grads = new Map<string, Float32Array>();
  const step = b.optimizer.step.bind(b.optimizer);
  b.optimizer.step = (params, g, lr, norm) => ((grads = new Map([...g].map(([n, x]) => [n, Float32Array.from(x)]))), step(params, g, lr, norm));
  const { gradNorm } = await b.optimStep({ learningRate: 0 });
  b.optimizer.step = step;
  return { grads, gradNorm };
}

/** Naive reference: full-sequence logits, float64 log-softmax, the weighted NLL summed. */
async function referenceLoss(b: LocalBackend, rows: CrossEntropyRow[]): Promise<number> {
  const { batch, logits } = await b.policyModel.engine.logits(rows.map((r) => [...r.promptIds, ...r.tokens]));
  const V = logits.length / (batch.B * batch.T);
  let loss = 0;
  rows.forEach((r, bi) => {
    r.tokens.forEach((tok, k) => {
      const t = r.promptIds.length + k - 1; // position predicting token k
      const at = (bi * batch.T + t) * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[at + v]);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logits[at + v] - max);
      loss += r.weights[k] * -(logits[at + tok] - max - Math.log(sum));
    });
  });
  return loss;
}

/** Rows of three shapes, with weights like pretraining's (1/total, one token weighted 8x). */
function rowSets(b: LocalBackend): Record<'challenger' | 'judge' | 'plain', CrossEntropyRow[]> {
  const m = b.referenceModel;
  const enc = (t: string) => m.tokenizer.encode(t, { addSpecialTokens: false });
  const head = 'you are the judge of an instruction and its answer. read the instruction below and decide whether it is well formed. ';
  const completions = [enc('reverse the words: a b c'), enc('count 3'), enc('sort the list: 4 1 2 9')];
  const weights = (n: number, emph = -1) => Array.from({ length: n }, (_, k) => (k === emph ? 8 : 1) / 17);
  const box1 = m.promptIds(`${head}${head}write one instruction.`);
  const challenger = completions.map((tokens, i) => ({ promptIds: box1, tokens, weights: weights(tokens.length, i) }));
  const judge = ['a b', 'sort: 3 1', 'x'].map((tail, i) => {
    const promptIds = m.promptIds(`${head}${head}<Instruction>${tail}</Instruction>`);
    return { promptIds, tokens: completions[i], weights: weights(completions[i].length, 1) };
  });
  const plain = ['reverse: a b', 'count the words: x y z', 'hi'].map((t, i) => ({ promptIds: m.promptIds(t), tokens: completions[i], weights: weights(completions[i].length) }));
  assert.ok(box1.length >= 40, `Box 1 stand-in is long enough to share (${box1.length} tokens)`);
  return { challenger, judge, plain };
}

test('cross-entropy loss = the naive logits reference, through the shared-prefix graph where rows share a prompt head', async () => {
  const b = make();
  const shared = countShared(b);
  for (const [name, rows] of Object.entries(rowSets(b))) {
    const before = shared();
    const got = await b.forwardBackwardCrossEntropy(rows, rows.length);
    await b.optimStep({ learningRate: 0 }, true);
    const want = await referenceLoss(b, rows);
    const diff = Math.abs(got.loss - want);
    assert.ok(diff <= 1e-4 * Math.max(1, Math.abs(want)), `${name}: loss ${got.loss} vs reference ${want}, diff ${diff}`);
    assert.equal(got.tokens, rows.reduce((a, r) => a + r.tokens.length, 0));
    assert.equal(shared() - before, name === 'plain' ? 0 : 1, `${name}: ${name === 'plain' ? 'plain' : 'shared-prefix'} graph`);
  }
});

test('cross-entropy gradient = finite differences of the reference loss on single weights; micro-batches and calls accumulate', async () => {
  const b = make();
  const { judge, challenger } = rowSets(b);
  const rows = [...judge, ...challenger];
  await b.forwardBackwardCrossEntropy(judge, 2); // accumulates with the next call until optimStep
  await b.forwardBackwardCrossEntropy(challenger, 3);
  const { grads, gradNorm } = await stepGrads(b);
  const weights = b.policyModel.engine.weights;
  let worst = 0;
  for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.norm.weight']) {
    const g = grads.get(name)!;
    const i = g.reduce((best, x, j) => (Math.abs(x) > Math.abs(g[best]) ? j : best), 0); // the largest entry: a clear signal
    const w = weights.get(name)!;
    const orig = w[i];
    const h = 1e-2 * Math.max(1, Math.abs(orig));
    w[i] = orig + h;
    const up = await referenceLoss(b, rows);
    w[i] = orig - h;
    const down = await referenceLoss(b, rows);
    w[i] = orig;
    const fd = (up - down) / (2 * h);
    const diff = Math.abs(fd - g[i]);
    worst = Math.max(worst, diff / Math.abs(fd));
    assert.ok(diff <= 2e-3 + 2e-2 * Math.abs(fd), `${name}[${i}]: backend gradient ${g[i]}, finite differences ${fd}, diff ${diff}`);
  }
  console.log(`  finite differences: max rel diff ${worst.toExponential(2)}`);
  // the same rows in one call, one row per micro-batch: the same summed gradient
  await b.forwardBackwardCrossEntropy(rows, 1);
  const again = await stepGrads(b);
  let maxDiff = 0;
  for (const [name, g] of grads) g.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - again.grads.get(name)![j]))));
  assert.ok(maxDiff <= 1e-5 * Math.max(1, gradNorm), `accumulated vs one call: max gradient diff ${maxDiff}`);
  assert.ok(Math.abs(again.gradNorm - gradNorm) <= 1e-5 * gradNorm, `grad norms ${gradNorm} vs ${again.gradNorm}`);
});

test('cross-entropy rows: a missing prompt, a weight count that does not match, a bad micro-batch are named', async () => {
  const b = make();
  const ok = { promptIds: [1, 2], tokens: [3, 4], weights: [1, 1] };
  await assert.rejects(b.forwardBackwardCrossEntropy([ok, { ...ok, weights: [1] }], 2), (e: Error) => e instanceof InputError && /row 1: 1 weights for 2 tokens/.test(e.message));
  await assert.rejects(b.forwardBackwardCrossEntropy([{ ...ok, promptIds: [] }], 2), (e: Error) => e instanceof InputError && /row 0: promptIds is empty/.test(e.message));
  await assert.rejects(b.forwardBackwardCrossEntropy([{ ...ok, weights: [1, NaN] }], 2), (e: Error) => e instanceof InputError && /weights\[1\] is NaN/.test(e.message));
  await assert.rejects(b.forwardBackwardCrossEntropy([ok], 0), (e: Error) => e instanceof InputError && /microBatch/.test(e.message));
  const { gradNorm } = await b.optimStep({ learningRate: 0 });
  assert.equal(gradNorm, 0, 'rejected rows left no gradient behind');
});

test('no reference (pretraining): seeded random start, saveState/loadState continue exactly, exportHf in float16', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ce-pretrain-backend-'));
  const tokDir = path.join(root, 'tokenizer');
  const config = worldModelConfig({ hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 1 }, makeWorldTokenizer(tokDir));
  const make = () => new LocalBackend({ model: null, tokenizerFrom: tokDir, chatTemplate: null, lora: null, seed: 4, runtime, adam: { lr: 0.01, weightDecay: 0.1, gradClip: 1, betas: [0.9, 0.95] } });
  const a = make();
  a.start({ randomConfig: config });
  const init = initWeights(parseModelConfig(config, 'config.json'), 4);
  for (const [name, w] of init) assert.deepEqual(a.policyModel.engine.weights.get(name), w, `${name}: the seeded initialisation`);
  assert.throws(() => a.referenceModel, /without a reference/);
  const rows = [{ promptIds: [1, 5, 9, 12], tokens: [7, 3, 2], weights: [0.2, 0.2, 1.6] }];
  const step = async (b: LocalBackend) => (await b.forwardBackwardCrossEntropy(rows, 1), (await b.optimStep({ learningRate: 0.01 })).gradNorm);
  await step(a);
  fs.mkdirSync(path.join(root, 'ckpt'));
  const saved = a.saveState(path.join(root, 'ckpt'), path.join(root, 'ckpt'));
  const b = make();
  b.loadState(path.join(root, 'ckpt'), saved);
  assert.equal(await step(b), await step(a), 'the same gradient norm after the round trip');
  for (const [name, w] of a.policyModel.engine.weights) assert.deepEqual(b.policyModel.engine.weights.get(name), w, `${name} after one more step each`);
  a.exportHf(path.join(root, 'model'), { dtype: 'float16' });
  const st = readSafetensors(path.join(root, 'model', 'model.safetensors'));
  assert.ok([...st.tensors.values()].every((t) => t.dtype === 'F16'), 'float16 weights');
  assert.ok(fs.existsSync(path.join(root, 'model', 'tokenizer.json')), 'tokenizer files from tokenizerFrom');
  fs.rmSync(root, { recursive: true, force: true });
});
