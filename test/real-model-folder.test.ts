/**
 * scripts/make-real-model.ts: random-weight folders of real shapes with the real tokenizer files load as model folders
 * with the real vocabulary, special ids and eos lists; weights are seeded, bf16 rounds the f32 ones.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRealModelFolder, realModelConfig, type ShapeName, TOKENIZERS } from '../scripts/make-real-model.ts';
import { expectedParamShapes, parseModelConfig } from '../src/model/config.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'real-model-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const EXPECTED: Record<keyof typeof TOKENIZERS, { vocab: number; tokenizerIds: number; eos: number[]; bos: number }> = {
  llama3: { vocab: 128256, tokenizerIds: 128256, eos: [128001, 128008, 128009], bos: 128000 },
  qwen3: { vocab: 151936, tokenizerIds: 151669, eos: [151645, 151643], bos: 151643 },
  mistral: { vocab: 32000, tokenizerIds: 32000, eos: [2], bos: 1 },
};

for (const name of Object.keys(TOKENIZERS) as (keyof typeof TOKENIZERS)[]) {
  test(`make-real-model: tiny body + ${name} tokenizer loads with the real vocabulary and eos ids`, () => {
    const out = path.join(root, `tiny-${name}`);
    const built = buildRealModelFolder({ shape: 'tiny', tokenizer: name, out, seed: 3 });
    const folder = loadModelFolder(out);
    const want = EXPECTED[name];
    assert.equal(folder.cfg.vocabSize, want.vocab);
    assert.equal(folder.tokenizer!.vocabSize, want.tokenizerIds);
    assert.deepEqual([...folder.tokenizer!.eosIds].sort(), [...want.eos].sort());
    assert.equal(folder.tokenizer!.bosId, name === 'qwen3' ? undefined : want.bos); // Qwen's tokenizer_config has no bos
    assert.equal(folder.cfg.bosTokenId, want.bos);
    assert.ok(folder.tokenizer!.chatTemplates.size > 0, 'has a chat template');
    assert.ok(fs.existsSync(path.join(out, 'LICENSE')));
    const count = [...folder.weights.values()].reduce((a, w) => a + w.length, 0);
    assert.equal(count, built.params);
    const emb = folder.weights.get('model.embed_tokens.weight')!;
    let sum2 = 0;
    for (const x of emb) sum2 += x * x;
    const std = Math.sqrt(sum2 / emb.length);
    assert.ok(Math.abs(std - 0.02) < 0.001, `embedding std ${std}`);
    assert.ok(folder.weights.get('model.norm.weight')!.every((x) => x === 1));
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.includes('.tmp-')), []);
  });
}

test('make-real-model: the real shapes declare their published parameter counts', () => {
  const count = (shape: ShapeName, tokenizer: 'llama3' | 'qwen3') =>
    [...expectedParamShapes(parseModelConfig(realModelConfig({ shape, tokenizer }), 'config.json')).values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  assert.equal(count('qwen2.5-0.5b', 'qwen3'), 494_032_768); // Qwen2.5-0.5B as published (with its own 151,936 rows)
  assert.equal(count('llama3.2-1b', 'llama3'), 1_235_814_400); // Llama-3.2-1B as published
  assert.equal(count('smollm2-135m', 'llama3'), 134_515_008 + (128_256 - 49_152) * 576); // SmolLM2-135M, 128,256-row embedding
});

test('make-real-model: same seed, same weights; bf16 is the rounded f32; layers override', () => {
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  buildRealModelFolder({ shape: 'tiny', tokenizer: 'llama2', out: a, seed: 7 });
  buildRealModelFolder({ shape: 'tiny', tokenizer: 'llama2', out: b, seed: 7, dtype: 'bf16', layers: 1 });
  const fa = loadModelFolder(a);
  const fb = loadModelFolder(b);
  assert.equal(fb.cfg.numLayers, 1);
  // The embedding is the first tensor in file order, so it draws the same numbers whatever the layer count.
  const ea = fa.weights.get('model.embed_tokens.weight')!;
  const eb = fb.weights.get('model.embed_tokens.weight')!;
  let maxRel = 0;
  for (let i = 0; i < ea.length; i++) maxRel = Math.max(maxRel, Math.abs(ea[i] - eb[i]) / Math.abs(ea[i]));
  console.log(`  bf16 vs f32 embedding: max rel diff ${maxRel.toExponential(2)}`);
  assert.ok(maxRel <= 2 ** -8, `bf16 rounding error ${maxRel}`);
  const again = path.join(root, 'a2');
  buildRealModelFolder({ shape: 'tiny', tokenizer: 'llama2', out: again, seed: 7 });
  assert.ok(fs.readFileSync(path.join(a, 'model.safetensors')).equals(fs.readFileSync(path.join(again, 'model.safetensors'))));
});
