/**
 * LoRA: only adapters train; adapter gradients follow the chain rule through the merged weight
 * (dA = s B^T dW, dB = s dW A^T, with dW the full fine-tuning gradient at the merged weights); the LoRA model's
 * logits equal those of the merged weights; PEFT save/load round-trips.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine, padBatch } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { weightedNll } from '../src/model/graphs.ts';
import { adapterNames, initLora, loadLoraAdapter, type LoraConfig, loraScale, loraTargetWeights, mergeLora, saveLoraAdapter } from '../src/model/lora.ts';
import { AdamW } from '../src/optim/adamw.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { Rng } from '../src/util/rng.ts';
import { expectClose } from './helpers/compare.ts';

const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());
const dir = path.join(import.meta.dirname, 'fixtures', 'qwen2-bias');
const cfg = loadModelConfig(dir);
const lora: LoraConfig = { rank: 2, alpha: 4, targets: ['q_proj', 'v_proj', 'down_proj'] };
const sequences = [[1, 4, 8, 15, 16, 23, 42], [1, 3, 5, 7, 9]];

/** Base weights plus adapters with a non-zero B (so every gradient path is exercised). */
function loraWeights(): Map<string, Float32Array> {
  const weights = new Map([...loadModelWeights(dir, cfg).weights, ...initLora(cfg, lora, 5)]);
  const rng = new Rng(9);
  for (const [name, data] of weights) if (name.includes('lora_B')) data.forEach((_, i) => (data[i] = (rng.next() - 0.5) * 0.2));
  return weights;
}

function nllInputs(B: number, T: number) {
  const w = new Float32Array(B * (T - 1)).fill(1 / (B * (T - 1)));
  return { token_weights: { data: w, dims: [B, T - 1] } };
}

test('adapter gradients follow the chain rule through the merged weight', async () => {
  const weights = loraWeights();
  const batch = padBatch(sequences, cfg.vocabSize);
  const withLora = await new ModelEngine(cfg, weights, runtime, 'lora', lora).trainStep(batch, weightedNll, nllInputs(batch.B, batch.T));
  const merged = await new ModelEngine(cfg, mergeLora(cfg, lora, weights), runtime, 'merged').trainStep(batch, weightedNll, nllInputs(batch.B, batch.T));
  expectClose('loss', [withLora.loss], [merged.loss], 1e-5);
  assert.equal(withLora.grads.size, 2 * loraTargetWeights(cfg, lora).size, 'gradients only for adapters');
  const s = loraScale(lora);
  const r = lora.rank;
  for (const [name, [out, inp]] of loraTargetWeights(cfg, lora)) {
    const { a, b } = adapterNames(name);
    const dW = merged.grads.get(name)!;
    const A = weights.get(a)!;
    const Bm = weights.get(b)!;
    const dA = new Float64Array(r * inp); // s B^T dW
    const dB = new Float64Array(out * r); // s dW A^T
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inp; i++) {
        for (let k = 0; k < r; k++) {
          dA[k * inp + i] += s * Bm[o * r + k] * dW[o * inp + i];
          dB[o * r + k] += s * dW[o * inp + i] * A[k * inp + i];
        }
      }
    }
    expectClose(`${a}`, withLora.grads.get(a)!, dA, 1e-4);
    expectClose(`${b}`, withLora.grads.get(b)!, dB, 1e-4);
  }
});

test('a LoRA training step changes only adapter weights; merged logits equal LoRA logits', async () => {
  const weights = loraWeights();
  const base = new Map([...loadModelWeights(dir, cfg).weights].map(([n, d]) => [n, Float32Array.from(d)]));
  const adaptersBefore = new Map([...weights].filter(([n]) => n.includes('lora_')).map(([n, d]) => [n, Float32Array.from(d)]));
  const engine = new ModelEngine(cfg, weights, runtime, 'lora-step', lora);
  const opt = new AdamW({ lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 });
  const batch = padBatch(sequences, cfg.vocabSize);
  for (let i = 0; i < 2; i++) opt.step(weights, (await engine.trainStep(batch, weightedNll, nllInputs(batch.B, batch.T))).grads);
  for (const [name, data] of base) assert.deepEqual(weights.get(name), data, `${name} must not change`);
  for (const [name, before] of adaptersBefore) assert.notDeepEqual(weights.get(name), before, `${name} must change`);
  const ours = await engine.logits(sequences);
  const merged = await new ModelEngine(cfg, mergeLora(cfg, lora, weights), runtime, 'lora-merged').logits(sequences);
  expectClose('LoRA vs merged logits', ours.logits, merged.logits, 1e-5);
  const [name] = loraTargetWeights(cfg, lora).keys();
  const { a, b } = adapterNames(name);
  const inp = base.get(name)!.length / (weights.get(b)!.length / lora.rank);
  let expected = base.get(name)![0]; // element [0, 0]: W + s * sum_k B[0, k] A[k, 0]
  for (let k = 0; k < lora.rank; k++) expected += loraScale(lora) * weights.get(b)![k] * weights.get(a)![k * inp];
  assert.ok(Math.abs(mergeLora(cfg, lora, weights).get(name)![0] - expected) < 1e-6);
});

test('PEFT adapter save and load round-trip; bad adapter configs are named errors', () => {
  const weights = loraWeights();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-lora-'));
  saveLoraAdapter(out, lora, weights, cfg, 'qwen2-bias');
  const cfgJson = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
  assert.equal(cfgJson.peft_type, 'LORA');
  assert.deepEqual(cfgJson.target_modules, lora.targets);
  const loaded = loadLoraAdapter(out, cfg);
  assert.deepEqual(loaded.lora, lora);
  for (const [name, data] of loaded.weights) assert.deepEqual(data, weights.get(name));
  fs.writeFileSync(path.join(out, 'adapter_config.json'), JSON.stringify({ ...cfgJson, r: 0 }));
  assert.throws(() => loadLoraAdapter(out, cfg), /adapter_config\.json: r: /);
});
