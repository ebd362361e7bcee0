/**
 * The Tinker wire schemas (src/backend/tinker-schemas.ts): payloads shaped as the Python SDK serialises them parse;
 * a wrong or unknown field is one InputError naming it; a row becomes an importance_sampling datum whose targets,
 * log-probs and advantages line up with the sampled tokens; a sampled sequence becomes a Generation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../src/errors.ts';
import {
  adamParamsSchema, datumSchema, forwardBackwardInputSchema, forwardBackwardOutputSchema, generationOf, importanceSamplingDatum, parseWire, sampleRequestSchema, sampleResponseSchema,
} from '../src/backend/tinker-schemas.ts';

const rejects = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => e instanceof InputError && re.test(e.message), `expected ${re}`);

test('SDK-shaped payloads parse, with the SDK defaults filled in', () => {
  const fb = parseWire(forwardBackwardInputSchema, {
    data: [{ model_input: { chunks: [{ type: 'encoded_text', tokens: [1, 2, 3] }] }, loss_fn_inputs: { target_tokens: { data: [2, 3, 4], dtype: 'int64', shape: [3] }, weights: { data: [0, 1, 1], dtype: 'float32' } } }],
    loss_fn: 'cross_entropy',
  }, 'forward_backward request');
  assert.equal(fb.data[0].loss_fn_inputs.weights.data[2], 1);
  assert.deepEqual(parseWire(adamParamsSchema, { learning_rate: 3e-4 }, 'optim_step'), { learning_rate: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-12, weight_decay: 0, grad_clip_norm: 0 });
  const sample = parseWire(sampleRequestSchema, { prompt: { chunks: [{ type: 'encoded_text', tokens: [5] }] }, sampling_params: { max_tokens: 8, stop: [2] }, num_samples: 4 }, 'sample request');
  assert.equal(sample.sampling_params.top_k, -1);
  const res = parseWire(sampleResponseSchema, { type: 'sample', sequences: [{ stop_reason: 'stop', tokens: [7, 2], logprobs: [-0.5, -0.1] }], server_extra: 1 }, 'sample response');
  assert.deepEqual(generationOf(res.sequences[0], 'sample'), { tokens: [7, 2], logprobs: [-0.5, -0.1], finishReason: 'eos' });
  const out = parseWire(forwardBackwardOutputSchema, { loss_fn_output_type: 'importance_sampling', loss_fn_outputs: [{ logprobs: { data: [-1], dtype: 'float32' } }], metrics: { 'loss:sum': 0.5 } }, 'forward_backward response');
  assert.equal(out.metrics['loss:sum'], 0.5);
});

test('a wrong or unknown field is one InputError naming it', () => {
  rejects(() => parseWire(forwardBackwardInputSchema, { data: [], loss_fn: 'nll' }, 'forward_backward request'), /^forward_backward request: loss_fn: /);
  rejects(() => parseWire(datumSchema, { model_input: { chunks: [] }, loss_fn_inputs: { advantages: { data: [0.1], dtype: 'float64' } } }, 'datum'), /^datum: loss_fn_inputs\.advantages\.dtype: /);
  rejects(() => parseWire(adamParamsSchema, { learning_rate: 1e-4, momentum: 0.1 }, 'optim_step'), /^optim_step: .*momentum/);
  rejects(() => parseWire(sampleResponseSchema, { sequences: [{ stop_reason: 'eos', tokens: [1] }] }, 'sample response'), /^sample response: sequences\.0\.stop_reason: /);
  rejects(() => generationOf({ stop_reason: 'length', tokens: [1, 2], logprobs: [-1] }, 'sample'), /2 tokens but 1 log-probs/);
});

test('a row as an importance_sampling datum: position t targets token t + 1; only sampled tokens carry log-probs and advantages', () => {
  const row = { promptIds: [1, 10, 11], tokens: [20, 21, 2], samplerLogprobs: [-0.5, -1, -0.25], refLogprobs: [-0.6, -0.9, -0.3], advantage: 0.2, klCoef: 0.1, tokenAdvantages: [0.3, 0.2, 0.1] };
  const d = parseWire(datumSchema, importanceSamplingDatum(row), 'datum');
  const input = d.model_input.chunks.flatMap((c) => (c.type === 'encoded_text' ? c.tokens : []));
  assert.deepEqual(input, [1, 10, 11, 20, 21]);
  assert.deepEqual(d.loss_fn_inputs.target_tokens.data, [10, 11, 20, 21, 2]);
  assert.deepEqual(d.loss_fn_inputs.logprobs.data, [0, 0, -0.5, -1, -0.25]);
  assert.deepEqual(d.loss_fn_inputs.advantages.data, [0, 0, 0.3, 0.2, 0.1]);
  // the targets the advantages sit on are exactly the sampled tokens
  const targeted = d.loss_fn_inputs.target_tokens.data.filter((_, t) => d.loss_fn_inputs.advantages.data[t] !== 0);
  assert.deepEqual(targeted, row.tokens);
  rejects(() => importanceSamplingDatum({ ...row, tokenAdvantages: undefined }), /needs tokenAdvantages/);
});
