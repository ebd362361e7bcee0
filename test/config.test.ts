import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelFormatError } from '../src/errors.ts';
import { expectedParamShapes, loadModelConfig, parseModelConfig, type LlamaConfig } from '../src/model/config.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';

const FILE = '/models/tiny/config.json';

function llamaJson(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: 32,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    torch_dtype: 'bfloat16',
    some_future_key: { nested: true },
    ...extra,
  };
}

function throwsModelError(fn: () => unknown, ...needles: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${String(e)}`);
    for (const n of needles) assert.ok(e.message.includes(n), `"${e.message}" should contain "${n}"`);
    return true;
  });
}

test('HF defaults are applied and unknown keys ignored', () => {
  const cfg = parseModelConfig(llamaJson({ eos_token_id: 2, bos_token_id: 1 }), FILE);
  assert.deepEqual(cfg, {
    architecture: 'LlamaForCausalLM',
    vocabSize: 32,
    hiddenSize: 16,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 4,
    headDim: 4,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: false,
    attentionBias: false,
    numLabels: 1,
    bosTokenId: 1,
    eosTokenIds: [2],
    maxPositionEmbeddings: 2048,
  } satisfies LlamaConfig);
});

test('explicit values, eos list, head_dim override and null optionals', () => {
  const cfg = parseModelConfig(
    llamaJson({
      num_key_value_heads: 2, head_dim: 8, rope_theta: 500000, rms_norm_eps: 1e-5, eos_token_id: [128001, 128009],
      pad_token_id: null, rope_scaling: null, hidden_act: 'silu', max_position_embeddings: 8192,
    }),
    FILE,
  );
  assert.equal(cfg.numKvHeads, 2);
  assert.equal(cfg.headDim, 8);
  assert.equal(cfg.ropeTheta, 500000);
  assert.equal(cfg.rmsNormEps, 1e-5);
  assert.deepEqual(cfg.eosTokenIds, [128001, 128009]);
  assert.equal(cfg.padTokenId, undefined);
  assert.equal(cfg.maxPositionEmbeddings, 8192);
});

test('Qwen2 always has q/k/v biases and no o_proj bias', () => {
  const cfg = parseModelConfig(
    llamaJson({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', num_key_value_heads: 2, tie_word_embeddings: true }),
    FILE,
  );
  assert.equal(cfg.attentionBias, true);
  const shapes = expectedParamShapes(cfg);
  assert.deepEqual(shapes.get('model.layers.0.self_attn.q_proj.bias'), [16]);
  assert.deepEqual(shapes.get('model.layers.1.self_attn.k_proj.bias'), [8]);
  assert.deepEqual(shapes.get('model.layers.1.self_attn.v_proj.bias'), [8]);
  assert.equal(shapes.has('model.layers.0.self_attn.o_proj.bias'), false);
  assert.equal(shapes.has('lm_head.weight'), false);
});

test('Llama attention_bias adds q/k/v and o_proj biases; Mistral never has biases', () => {
  const llama = expectedParamShapes(parseModelConfig(llamaJson({ attention_bias: true }), FILE));
  assert.deepEqual(llama.get('model.layers.0.self_attn.o_proj.bias'), [16]);
  assert.deepEqual(llama.get('model.layers.0.self_attn.q_proj.bias'), [16]);
  const mistral = parseModelConfig(llamaJson({ architectures: ['MistralForCausalLM'], sliding_window: 4096 }), FILE);
  assert.equal(mistral.attentionBias, false);
  assert.equal(mistral.slidingWindow, 4096);
});

test('missing required field names the field and the file', () => {
  const json = llamaJson();
  delete json.hidden_size;
  throwsModelError(() => parseModelConfig(json, FILE), `${FILE}: missing field \`hidden_size\``);
  throwsModelError(() => parseModelConfig(llamaJson({ vocab_size: -3 }), FILE), FILE, 'vocab_size');
  throwsModelError(() => parseModelConfig(llamaJson({ num_hidden_layers: 1.5 }), FILE), 'num_hidden_layers');
  throwsModelError(() => parseModelConfig([], FILE), FILE);
});

test('bad head ratio and non-divisible hidden size are rejected', () => {
  throwsModelError(() => parseModelConfig(llamaJson({ num_key_value_heads: 3 }), FILE), FILE, 'num_key_value_heads', 'multiple');
  throwsModelError(() => parseModelConfig(llamaJson({ num_attention_heads: 5 }), FILE), FILE, 'hidden_size');
  throwsModelError(() => parseModelConfig(llamaJson({ num_key_value_heads: 0 }), FILE), 'num_key_value_heads');
});

test('unsupported architecture, activation and rope_scaling are rejected clearly', () => {
  throwsModelError(() => parseModelConfig(llamaJson({ architectures: ['GPT2LMHeadModel'] }), FILE), FILE, 'GPT2LMHeadModel');
  throwsModelError(() => parseModelConfig(llamaJson({ hidden_act: 'gelu' }), FILE), 'hidden_act', 'silu');
  const llama3 = { rope_type: 'llama3', factor: 8 };
  throwsModelError(() => parseModelConfig(llamaJson({ rope_scaling: llama3 }), FILE), 'rope_scaling is not supported yet');
  const noArch = llamaJson({ architectures: undefined, model_type: 'qwen2' });
  assert.equal(parseModelConfig(noArch, FILE).architecture, 'Qwen2ForCausalLM');
});

test('param shapes of a GQA config, in declaration order', () => {
  const cfg = parseModelConfig(llamaJson({ num_hidden_layers: 1, num_key_value_heads: 1, head_dim: 8 }), FILE);
  assert.deepEqual([...expectedParamShapes(cfg)], [
    ['model.embed_tokens.weight', [32, 16]],
    ['model.layers.0.input_layernorm.weight', [16]],
    ['model.layers.0.self_attn.q_proj.weight', [32, 16]],
    ['model.layers.0.self_attn.k_proj.weight', [8, 16]],
    ['model.layers.0.self_attn.v_proj.weight', [8, 16]],
    ['model.layers.0.self_attn.o_proj.weight', [16, 32]],
    ['model.layers.0.post_attention_layernorm.weight', [16]],
    ['model.layers.0.mlp.gate_proj.weight', [24, 16]],
    ['model.layers.0.mlp.up_proj.weight', [24, 16]],
    ['model.layers.0.mlp.down_proj.weight', [16, 24]],
    ['model.norm.weight', [16]],
    ['lm_head.weight', [32, 16]],
  ]);
});

test('tied embeddings drop lm_head; sequence classification uses score', () => {
  const tied = expectedParamShapes(parseModelConfig(llamaJson({ tie_word_embeddings: true }), FILE));
  assert.equal(tied.has('lm_head.weight'), false);
  assert.equal(tied.size, 1 + 2 * 9 + 1);
  const cls = parseModelConfig(llamaJson({ architectures: ['LlamaForSequenceClassification'], num_labels: 1 }), FILE);
  const shapes = [...expectedParamShapes(cls)];
  assert.deepEqual(shapes.at(-1), ['score.weight', [1, 16]]);
  assert.equal(shapes.some(([n]) => n === 'lm_head.weight'), false);
  const twoLabels = parseModelConfig(llamaJson({ architectures: ['LlamaForSequenceClassification'] }), FILE);
  assert.equal(twoLabels.numLabels, 2);
});

test('loadModelConfig reads <dir>/config.json and names it in errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-test-'));
  throwsModelError(() => loadModelConfig(dir), path.join(dir, 'config.json'));
  fs.writeFileSync(path.join(dir, 'config.json'), '{ not json');
  throwsModelError(() => loadModelConfig(dir), path.join(dir, 'config.json'), 'invalid JSON');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(llamaJson()));
  assert.equal(loadModelConfig(dir).hiddenSize, 16);
});

function writeTinyModel(dir: string, cfg: LlamaConfig, mutate: (t: Map<string, { shape: number[]; data: Float32Array }>) => void) {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let k = 0;
  for (const [name, shape] of expectedParamShapes(cfg)) {
    tensors.set(name, { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => k++ % 7) });
  }
  mutate(tensors);
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { dtype: 'BF16' });
  return tensors;
}

test('loadModelWeights returns f32 weights in order and lists ignored tensors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w-test-'));
  const cfg = parseModelConfig(llamaJson({ tie_word_embeddings: true, num_key_value_heads: 2 }), FILE);
  const written = writeTinyModel(dir, cfg, (t) => {
    t.set('lm_head.weight', { shape: [32, 16], data: new Float32Array(512) });
    t.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [2], data: new Float32Array(2) });
  });
  const { weights, ignored } = loadModelWeights(dir, cfg);
  assert.deepEqual([...weights.keys()], [...expectedParamShapes(cfg).keys()]);
  assert.deepEqual(weights.get('model.norm.weight'), written.get('model.norm.weight')!.data);
  assert.deepEqual(ignored, ['lm_head.weight', 'model.layers.0.self_attn.rotary_emb.inv_freq']);
});

test('loadModelWeights: missing tensor and shape mismatch are named errors', () => {
  const cfg = parseModelConfig(llamaJson(), FILE);
  const dir1 = fs.mkdtempSync(path.join(os.tmpdir(), 'w-test-'));
  writeTinyModel(dir1, cfg, (t) => t.delete('model.layers.1.mlp.up_proj.weight'));
  throwsModelError(() => loadModelWeights(dir1, cfg), 'model.layers.1.mlp.up_proj.weight', 'missing', 'model.safetensors');
  const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'w-test-'));
  writeTinyModel(dir2, cfg, (t) => t.set('model.norm.weight', { shape: [8, 2], data: new Float32Array(16) }));
  throwsModelError(() => loadModelWeights(dir2, cfg), 'model.norm.weight', '[8, 2]', '[16]', 'model.safetensors');
});
