/**
 * The Tinker training API's endpoints, one table shared by the client (TinkerBackend) and `selfplay serve --tinker`:
 * path, HTTP method, request schema, and what comes back.
 *
 *   sync    the HTTP response is the result (`response`)
 *   future  the HTTP response is {request_id} (untypedApiFutureSchema) at once; the client then POSTs
 *           /api/v1/retrieve_future {request_id} until the answer is not {type: "try_again"}: either `response`
 *           (the result) or {error, category} (requestFailedResponseSchema). A future the server no longer knows
 *           (expired, or the server restarted) answers 404; one past its lifetime 410.
 *
 * Paths as the Python SDK calls them (tinker/resources/*.py) and SkyRL tx serves them (tx/tinker/api.py). The API
 * key goes in the `X-API-Key` header (the SDK's auth_headers); `Authorization: Bearer <key>` is accepted too.
 */
import type { z } from 'zod';
import * as s from './tinker-schemas.ts';

export interface TinkerEndpoint {
  method: 'GET' | 'POST';
  path: string;
  /** null: no body (GET). */
  request: z.ZodType | null;
  /** The result: the HTTP body (sync) or the retrieve_future answer once ready (future). */
  response: z.ZodType;
  mode: 'sync' | 'future';
}

export const API_PREFIX = '/api/v1';

function e<Q extends z.ZodType | null, R extends z.ZodType, M extends 'sync' | 'future'>(method: 'GET' | 'POST', name: string, request: Q, response: R, mode: M) {
  return { method, path: `${API_PREFIX}/${name}`, request, response, mode };
}

export const TINKER_ENDPOINTS = {
  healthz: e('GET', 'healthz', null, s.healthResponseSchema, 'sync'),
  get_server_capabilities: e('GET', 'get_server_capabilities', null, s.serverCapabilitiesSchema, 'sync'),
  create_session: e('POST', 'create_session', s.createSessionRequestSchema, s.createSessionResponseSchema, 'sync'),
  session_heartbeat: e('POST', 'session_heartbeat', s.sessionHeartbeatRequestSchema, s.sessionHeartbeatResponseSchema, 'sync'),
  create_sampling_session: e('POST', 'create_sampling_session', s.createSamplingSessionRequestSchema, s.createSamplingSessionResponseSchema, 'sync'),
  create_model: e('POST', 'create_model', s.createModelRequestSchema, s.createModelResponseSchema, 'future'),
  get_info: e('POST', 'get_info', s.getInfoRequestSchema, s.getInfoResponseSchema, 'sync'),
  forward: e('POST', 'forward', s.forwardRequestSchema, s.forwardBackwardOutputSchema, 'future'),
  forward_backward: e('POST', 'forward_backward', s.forwardBackwardRequestSchema, s.forwardBackwardOutputSchema, 'future'),
  optim_step: e('POST', 'optim_step', s.optimStepRequestSchema, s.optimStepResponseSchema, 'future'),
  asample: e('POST', 'asample', s.sampleRequestSchema, s.sampleResponseSchema, 'future'),
  save_weights_for_sampler: e('POST', 'save_weights_for_sampler', s.saveWeightsForSamplerRequestSchema, s.saveWeightsForSamplerResponseSchema, 'future'),
  save_weights: e('POST', 'save_weights', s.saveWeightsRequestSchema, s.saveWeightsResponseSchema, 'future'),
  load_weights: e('POST', 'load_weights', s.loadWeightsRequestSchema, s.loadWeightsResponseSchema, 'future'),
  unload_model: e('POST', 'unload_model', s.unloadModelRequestSchema, s.unloadModelResponseSchema, 'future'),
  compute_logprobs: e('POST', 'compute_logprobs', s.computeLogprobsRequestSchema, s.computeRowLogprobsResponseSchema, 'future'),
  retrieve_future: e('POST', 'retrieve_future', s.retrieveFutureRequestSchema, s.retrieveFutureResponseSchema, 'sync'),
} as const satisfies Record<string, TinkerEndpoint>;

export type TinkerEndpointName = keyof typeof TINKER_ENDPOINTS;

/** The body of a POST to `name`, as the schema's input type (what a client sends). */
export type TinkerRequest<N extends TinkerEndpointName> = (typeof TINKER_ENDPOINTS)[N]['request'] extends z.ZodType ? z.input<(typeof TINKER_ENDPOINTS)[N]['request']> : never;
/** The result of `name` once ready, as parsed. */
export type TinkerResult<N extends TinkerEndpointName> = z.infer<(typeof TINKER_ENDPOINTS)[N]['response']>;

/** The extensions `selfplay serve --tinker` lists in get_server_capabilities.selfplay_extensions. */
export const SELFPLAY_EXTENSIONS = [
  'full_finetune', //     create_model without lora_config, or lora_config.rank 0: every weight trains
  'batch_sample', //      asample `prompts`: many prompts in one batch, the tokens a local run draws
  'optim_skip', //        optim_step `skip`: drop the accumulated gradient without a step
  'micro_batch', //       loss_fn_config.micro_batch on forward / forward_backward
  'return_logprobs', //   loss_fn_config.return_logprobs 0: forward_backward skips its per-datum log-probs (one pass less)
  'load_optimizer', //    load_weights `optimizer`: also restore the Adam moments
  'compute_logprobs', //  POST compute_logprobs: batched log-probs of rows, as a local run scores its reference
  'lora_alpha', //        lora_config.alpha
] as const;

/** tinker://<model_id>/<kind>/<name>: where a saved checkpoint lives (kind `weights` or `sampler_weights`). */
export function tinkerPath(modelId: string, kind: 'weights' | 'sampler_weights', name: string): string {
  return `tinker://${modelId}/${kind}/${name}`;
}

/** The parts of a tinker:// path, or null when `path` is not one (never resolved against a file system here). */
export function parseTinkerPath(path: string): { modelId: string; kind: 'weights' | 'sampler_weights'; name: string } | null {
  const m = /^tinker:\/\/([^/]+)\/(weights|sampler_weights)\/([^/]+)$/.exec(path);
  return m ? { modelId: m[1], kind: m[2] as 'weights' | 'sampler_weights', name: m[3] } : null;
}
