/**
 * save -> load -> identical outputs for all four architectures (Llama, Qwen2, Mistral, Llama sequence
 * classification), as one f32 file and as bf16 shards (whose outputs must equal the bf16-rounded originals').
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseModelConfig } from '../src/model/config.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { RewardModel } from '../src/model/reward-model.ts';
import { saveModelFolder } from '../src/model/save.ts';
import { Runtime } from '../src/runtime/runtime.ts';

const FIX = path.join(import.meta.dirname, 'fixtures');
const runtime = new Runtime({ threads: 1 });
const seqs = [[1, 5, 9, 3, 7, 2], [1, 4, 6]];

/** Outputs of a folder: logits of the causal LM, or the score head's values for classifiers. */
async function outputs(dir: string, tag: string): Promise<Float32Array> {
  const f = loadModelFolder(dir);
  const engine = new ModelEngine(f.cfg, f.weights, runtime, tag);
  if (f.cfg.architecture === 'LlamaForSequenceClassification') {
    const rm = new RewardModel(f, undefined as never, runtime, tag);
    return Float32Array.from((await rm.scoreIds(seqs)).flat());
  }
  return (await engine.logits(seqs)).logits;
}

/** The four architectures: three fixtures, and Mistral as the GQA fixture's weights under a Mistral config. */
function sources(root: string): string[] {
  const mistral = path.join(root, 'mistral-src');
  const gqa = loadModelFolder(path.join(FIX, 'llama-gqa'));
  const config = { ...gqa.rawConfig, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: null };
  parseModelConfig(config, 'mistral config');
  saveModelFolder(mistral, { config, weights: gqa.weights });
  return [path.join(FIX, 'llama-gqa'), path.join(FIX, 'qwen2-bias'), mistral, path.join(FIX, 'llama-reward')];
}

test('save -> load gives identical outputs for Llama, Qwen2, Mistral and sequence classification (f32, and bf16 shards)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'roundtrip-'));
  for (const src of sources(root)) {
    const f = loadModelFolder(src);
    const name = path.basename(src);
    const want = await outputs(src, `${name}-src`);
    const f32 = path.join(root, `${name}-f32`);
    saveModelFolder(f32, { config: f.rawConfig, weights: f.weights });
    const got = await outputs(f32, `${name}-f32`);
    const diff = Math.max(...want.map((v, i) => Math.abs(v - got[i])));
    assert.equal(diff, 0, `${name} f32 round trip: max |diff| ${diff}`);
    // bf16 shards load to the bf16-rounded weights: outputs equal those of a bf16 single-file folder
    const shards = path.join(root, `${name}-bf16-shards`);
    const single = path.join(root, `${name}-bf16`);
    saveModelFolder(shards, { config: f.rawConfig, weights: f.weights, dtype: 'bfloat16', maxShardBytes: 4096 });
    saveModelFolder(single, { config: f.rawConfig, weights: f.weights, dtype: 'bfloat16' });
    assert.ok(fs.readdirSync(shards).some((n) => n === 'model.safetensors.index.json'), `${name}: expected shards`);
    const a = await outputs(shards, `${name}-bf16-shards`);
    const b = await outputs(single, `${name}-bf16`);
    const bdiff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    assert.equal(bdiff, 0, `${name} bf16 shards vs single file: max |diff| ${bdiff}`);
    const drift = Math.max(...a.map((v, i) => Math.abs(v - want[i])));
    assert.ok(drift > 0 && drift < 0.2, `${name}: bf16 storage should move outputs a little, moved ${drift}`);
  }
});
