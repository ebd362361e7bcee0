/**
 * The Tinker endpoint table (src/backend/tinker-api.ts): every endpoint has its path, a request schema for POSTs,
 * and accepts a body shaped as the Python SDK serialises it (defaults such as `type` and `seq_id` included);
 * checkpoint names that could leave a folder are refused by the schema; tinker:// paths round-trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../src/errors.ts';
import { parseTinkerPath, TINKER_ENDPOINTS, type TinkerEndpointName, tinkerPath } from '../src/backend/tinker-api.ts';
import { parseWire, retrieveFutureResponseSchema, saveWeightsRequestSchema } from '../src/backend/tinker-schemas.ts';

const input = { chunks: [{ type: 'encoded_text', tokens: [1, 2, 3] }] };
const datum = { model_input: input, loss_fn_inputs: { target_tokens: { data: [2, 3, 4], dtype: 'int64', shape: [3] }, weights: { data: [0, 1, 1], dtype: 'float32', shape: [3] } } };

/** One body per POST endpoint, as the SDK sends it (exclude_unset=False, exclude_none=True). */
const SDK_BODIES: Partial<Record<TinkerEndpointName, unknown>> = {
  create_session: { tags: [], sdk_version: '0.7.0', type: 'create_session', user_metadata: { a: 1 }, project_id: 'p' },
  session_heartbeat: { session_id: 's1', type: 'session_heartbeat' },
  create_sampling_session: { session_id: 's1', sampling_session_seq_id: 0, model_path: 'tinker://m1/sampler_weights/s0', type: 'create_sampling_session' },
  create_model: { base_model: 'default', lora_config: { rank: 8, train_unembed: true, train_mlp: true, train_attn: true }, type: 'create_model', session_id: 's1', model_seq_id: 0 },
  get_info: { model_id: 'm1', type: 'get_info' },
  forward: { forward_input: { data: [datum], loss_fn: 'cross_entropy' }, model_id: 'm1', seq_id: 3 },
  forward_backward: { forward_backward_input: { data: [datum], loss_fn: 'cross_entropy', loss_fn_config: { micro_batch: 4 } }, model_id: 'm1', seq_id: 4 },
  optim_step: { adam_params: { learning_rate: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-12, weight_decay: 0, grad_clip_norm: 0 }, model_id: 'm1', seq_id: 5, type: 'optim_step' },
  asample: { num_samples: 2, prompt: input, sampling_params: { max_tokens: 8, seed: 1, temperature: 1, top_k: -1, top_p: 1, stop: [2] }, model_path: 'tinker://m1/sampler_weights/s0', prompt_logprobs: true, topk_prompt_logprobs: 0, type: 'sample' },
  save_weights_for_sampler: { model_id: 'm1', path: 'step-3', seq_id: 6, type: 'save_weights_for_sampler' },
  save_weights: { model_id: 'm1', path: 'ckpt_000003', seq_id: 7, overwrite: false, type: 'save_weights' },
  load_weights: { model_id: 'm1', path: 'tinker://m0/weights/ckpt_000003', optimizer: true, type: 'load_weights' },
  unload_model: { model_id: 'm1', type: 'unload_model' },
  compute_logprobs: { base_model: 'default', rows: [{ prompt: [1, 2], tokens: [3, 4] }], micro_batch: 8 },
  retrieve_future: { request_id: '12', allow_metadata_only: true },
};

test('every endpoint: /api/v1 path, a request schema exactly for POSTs, and an SDK-shaped body parses', () => {
  for (const [name, ep] of Object.entries(TINKER_ENDPOINTS) as [TinkerEndpointName, (typeof TINKER_ENDPOINTS)[TinkerEndpointName]][]) {
    assert.equal(ep.path, `/api/v1/${name}`);
    assert.equal(ep.request === null, ep.method === 'GET', name);
    if (!ep.request) continue;
    assert.ok(name in SDK_BODIES, `no SDK body for ${name}`);
    assert.doesNotThrow(() => parseWire(ep.request!, SDK_BODIES[name], name), name);
    assert.throws(() => parseWire(ep.request!, { ...(SDK_BODIES[name] as object), bogus_field: 1 }, name), (e: Error) => e instanceof InputError && /bogus_field/.test(e.message), name);
  }
});

test('checkpoint names that could leave the state folder are refused by the schema, naming path', () => {
  for (const bad of ['..', '../x', 'a/b', '/etc/passwd', 'a\\b', 'x..y', '', 'a'.repeat(129), 'name with space', 'C:x']) {
    assert.throws(() => parseWire(saveWeightsRequestSchema, { model_id: 'm1', path: bad }, 'save_weights'), (e: Error) => e instanceof InputError && /^save_weights: path: /.test(e.message), JSON.stringify(bad));
  }
  for (const good of ['ckpt_000003', 'step-3', 'v1.2', 'a'.repeat(128)]) parseWire(saveWeightsRequestSchema, { model_id: 'm1', path: good }, 'save_weights');
});

test('tinker:// paths round-trip; anything else is not one', () => {
  assert.deepEqual(parseTinkerPath(tinkerPath('model_1', 'weights', 'ckpt')), { modelId: 'model_1', kind: 'weights', name: 'ckpt' });
  assert.deepEqual(parseTinkerPath('tinker://m/sampler_weights/s0'), { modelId: 'm', kind: 'sampler_weights', name: 's0' });
  for (const bad of ['/abs/path', 'tinker://m/weights/a/b', 'tinker://m/other/x', 'file:///x', 'tinker://m/weights/']) assert.equal(parseTinkerPath(bad), null, bad);
});

test('retrieve_future answers: try_again, a failure, or a result', () => {
  assert.equal((parseWire(retrieveFutureResponseSchema, { type: 'try_again', request_id: '1', queue_state: 'active' }, 'r') as { type: string }).type, 'try_again');
  assert.equal((parseWire(retrieveFutureResponseSchema, { error: 'x', category: 'user' }, 'r') as { category: string }).category, 'user');
  assert.ok(parseWire(retrieveFutureResponseSchema, { path: 'tinker://m/weights/a' }, 'r'));
});
