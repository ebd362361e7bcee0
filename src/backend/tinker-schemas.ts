/**
 * The Tinker training API's wire types, as zod schemas pinned from the public Python SDK's `tinker.types`
 * (ModelInput, Datum, TensorData, ForwardBackwardInput/Output, AdamParams, SamplingParams, SampleResponse, LoraConfig
 * and the save/load responses), plus the conversion of this project's rows to and from them.
 *
 * Pinned against the SDK's request/response models and SkyRL tx's FastAPI module (tx/tinker/api.py). Requests the SDK
 * marks StrictBase are strict here (an unknown field is an error naming it) but accept every field the SDK sends
 * (`type`, `seq_id`, ...); responses accept extra fields (servers add their own). Fields marked "extension" are
 * understood by `selfplay serve --tinker` only (docs/tinker-server.md). The endpoint table is in tinker-api.ts.
 */
import { z } from 'zod';
import { InputError } from '../errors.ts';
import type { Generation } from '../generate/generator.ts';
import type { TrainRow } from './backend.ts';

const tokenId = z.number().int().nonnegative();
/** Fields every SDK request may carry (the SDK serialises with exclude_unset=False, so defaults are sent). */
const seqId = z.number().int().nullish();
const modelId = z.string().min(1).max(255);

export const tensorDataSchema = z.strictObject({
  data: z.array(z.number()),
  dtype: z.enum(['int64', 'float32']),
  shape: z.array(z.number().int().nonnegative()).nullish(),
  /** Sparse CSR form (SDK >= 0.7): this server refuses it (400 naming the field); dense is always accepted. */
  sparse_crow_indices: z.array(z.number().int()).nullish(),
  sparse_col_indices: z.array(z.number().int()).nullish(),
});
export type TensorData = z.infer<typeof tensorDataSchema>;

/** `type` defaults to encoded_text (SkyRL tx accepts chunks without it). */
export const encodedTextChunkSchema = z.strictObject({ tokens: z.array(tokenId), type: z.literal('encoded_text').default('encoded_text') });
export const imageAssetPointerChunkSchema = z.strictObject({
  format: z.enum(['png', 'jpeg']),
  height: z.number().int(),
  location: z.string(),
  tokens: z.number().int(),
  width: z.number().int(),
  type: z.literal('image_asset_pointer'),
});
export const modelInputSchema = z.strictObject({ chunks: z.array(z.union([encodedTextChunkSchema, imageAssetPointerChunkSchema])) });
export type ModelInput = z.infer<typeof modelInputSchema>;

export const LOSS_FNS = ['cross_entropy', 'importance_sampling', 'ppo'] as const;
export const lossFnSchema = z.enum(LOSS_FNS);

export const datumSchema = z.strictObject({ model_input: modelInputSchema, loss_fn_inputs: z.record(z.string(), tensorDataSchema) });
export type Datum = z.infer<typeof datumSchema>;

/**
 * `loss_fn_config` extensions read by `selfplay serve --tinker`: `micro_batch` (rows per forward/backward pass on the
 * server; the same number as a local run's microBatch gives the same float rounding) and `return_logprobs: 0`
 * (forward_backward leaves loss_fn_outputs empty, `{}` per datum, saving one forward pass; metrics stay).
 * Metrics that are not finite are left out of the response (JSON has no NaN).
 */
export const forwardBackwardInputSchema = z.strictObject({ data: z.array(datumSchema), loss_fn: lossFnSchema, loss_fn_config: z.record(z.string(), z.number()).nullish() });
export type ForwardBackwardInput = z.infer<typeof forwardBackwardInputSchema>;

/** loss_fn_outputs[i].logprobs: the train-path log-prob of each target token of datum i. Metrics are `name:reduction`. */
export const forwardBackwardOutputSchema = z.object({
  loss_fn_output_type: z.string(),
  loss_fn_outputs: z.array(z.record(z.string(), tensorDataSchema)),
  metrics: z.record(z.string(), z.number()),
});
export type ForwardBackwardOutput = z.infer<typeof forwardBackwardOutputSchema>;

export const forwardBackwardRequestSchema = z.strictObject({ forward_backward_input: forwardBackwardInputSchema, model_id: modelId, seq_id: seqId, type: z.literal('forward_backward').nullish() });
export const forwardRequestSchema = z.strictObject({ forward_input: forwardBackwardInputSchema, model_id: modelId, seq_id: seqId, type: z.literal('forward').nullish() });

/** The SDK's AdamParams (weight_decay and grad_clip_norm since SDK 0.7; 0 = none). */
export const adamParamsSchema = z.strictObject({
  learning_rate: z.number().nonnegative().default(1e-4),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.95),
  eps: z.number().positive().default(1e-12),
  weight_decay: z.number().nonnegative().default(0),
  grad_clip_norm: z.number().nonnegative().default(0),
});
export type WireAdamParams = z.infer<typeof adamParamsSchema>;
/** `skip` is an extension of this server: the accumulated gradient is dropped and the weights and moments stay. */
export const optimStepRequestSchema = z.strictObject({ adam_params: adamParamsSchema, model_id: modelId, seq_id: seqId, type: z.literal('optim_step').nullish(), skip: z.boolean().nullish() });
/** This server's metrics: `grad_norm` (global L2 norm before clipping) and `applied` (1, or 0 when skipped / not finite). */
export const optimStepResponseSchema = z.object({ metrics: z.record(z.string(), z.number()).nullish() });

/**
 * rank 0 is an extension of this server: full fine-tuning (as is a create_model without lora_config); so is `alpha`
 * (the update is scaled by alpha / rank; default 32, Tinker's). This server adapts attention and MLP projections;
 * train_unembed is accepted and ignored (no adapter on the LM head).
 */
export const loraConfigSchema = z.strictObject({
  rank: z.number().int().nonnegative(),
  alpha: z.number().positive().nullish(),
  seed: z.number().int().nullish(),
  train_unembed: z.boolean().default(true),
  train_mlp: z.boolean().default(true),
  train_attn: z.boolean().default(true),
});
export const createModelRequestSchema = z.strictObject({
  base_model: z.string().min(1),
  user_metadata: z.record(z.string(), z.unknown()).nullish(),
  lora_config: loraConfigSchema.nullish(),
  session_id: z.string().nullish(),
  model_seq_id: z.number().int().nullish(),
  type: z.literal('create_model').nullish(),
});
export const createModelResponseSchema = z.object({ model_id: z.string(), type: z.literal('create_model').optional() });

export const getInfoRequestSchema = z.strictObject({ model_id: modelId, type: z.literal('get_info').nullish() });
export const getInfoResponseSchema = z.object({
  type: z.literal('get_info').nullish(),
  model_data: z.object({ arch: z.string().nullish(), model_name: z.string().nullish(), tokenizer_id: z.string().nullish() }),
  model_id: z.string(),
  is_lora: z.boolean().nullish(),
  lora_rank: z.number().int().nullish(),
  model_name: z.string().nullish(),
});

export const createSessionRequestSchema = z.strictObject({
  tags: z.array(z.string()).default([]),
  user_metadata: z.record(z.string(), z.unknown()).nullish(),
  sdk_version: z.string().default('unknown'),
  /** SDK >= 0.8 sends it when the user names a project; this server has no projects and ignores it. */
  project_id: z.string().nullish(),
  type: z.literal('create_session').nullish(),
});
export const createSessionResponseSchema = z.object({
  type: z.literal('create_session').optional(),
  info_message: z.string().nullish(),
  warning_message: z.string().nullish(),
  error_message: z.string().nullish(),
  session_id: z.string(),
});
export const sessionHeartbeatRequestSchema = z.strictObject({ session_id: z.string(), type: z.literal('session_heartbeat').nullish() });
/** A sampling session (SDK >= 0.6 samples through one): later asample calls name it instead of base_model/model_path. */
export const createSamplingSessionRequestSchema = z.strictObject({
  session_id: z.string(),
  sampling_session_seq_id: z.number().int().nullish(),
  base_model: z.string().nullish(),
  model_path: z.string().nullish(),
  type: z.literal('create_sampling_session').nullish(),
});
export const createSamplingSessionResponseSchema = z.object({ sampling_session_id: z.string(), type: z.literal('create_sampling_session').optional() });
export const sessionHeartbeatResponseSchema = z.object({ type: z.literal('session_heartbeat').optional() });

export const samplingParamsSchema = z.object({
  max_tokens: z.number().int().positive().nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string()), z.array(tokenId)]).nullish(),
  temperature: z.number().nonnegative().default(1),
  top_k: z.number().int().default(-1),
  top_p: z.number().gt(0).max(1).default(1),
});
/**
 * `prompts` is an extension of this server: several prompts sampled as ONE batch (num_samples each, prompt-major),
 * exactly as a local run's sampler does, so a remote run draws the same tokens; `prompt` is then ignored (send an
 * empty one). Without it a request is one prompt, as in the SDK.
 */
export const sampleRequestSchema = z.strictObject({
  prompt: modelInputSchema,
  sampling_params: samplingParamsSchema,
  num_samples: z.number().int().positive().default(1),
  base_model: z.string().nullish(),
  model_path: z.string().nullish(),
  sampling_session_id: z.string().nullish(),
  seq_id: seqId,
  prompt_logprobs: z.boolean().nullish(),
  topk_prompt_logprobs: z.number().int().nonnegative().default(0),
  record_stability_info: z.boolean().nullish(),
  type: z.literal('sample').nullish(),
  prompts: z.array(modelInputSchema).nullish(),
});
export const sampledSequenceSchema = z.object({ stop_reason: z.enum(['length', 'stop']), tokens: z.array(tokenId), logprobs: z.array(z.number()).nullish() });
/** prompt_logprobs[0] is null (the first token has no context); with `prompts`, it covers the first prompt only. */
export const sampleResponseSchema = z.object({
  sequences: z.array(sampledSequenceSchema),
  type: z.literal('sample').optional(),
  prompt_logprobs: z.array(z.number().nullable()).nullish(),
  topk_prompt_logprobs: z.array(z.array(z.tuple([z.number(), z.number()])).nullable()).nullish(),
});
export const computeLogprobsResponseSchema = z.object({ logprobs: z.array(z.number().nullable()) });

/** Checkpoint names: letters, digits, `_`, `-` and `.` (never `..`), at most 128 characters (SkyRL tx's ID pattern plus dots). */
export const CHECKPOINT_NAME = /^(?!.*\.\.)[A-Za-z0-9_.-]{1,128}$/;
const checkpointName = z.string().regex(CHECKPOINT_NAME, 'a checkpoint name is 1-128 of A-Z a-z 0-9 _ - . and never contains ".." or "/"');
export const saveWeightsRequestSchema = z.strictObject({
  model_id: modelId,
  path: checkpointName.nullish(),
  seq_id: seqId,
  ttl_seconds: z.number().int().nullish(),
  overwrite: z.boolean().default(false),
  type: z.literal('save_weights').nullish(),
});
export const saveWeightsForSamplerRequestSchema = z.strictObject({
  model_id: modelId,
  path: checkpointName.nullish(),
  seq_id: seqId,
  ttl_seconds: z.number().int().nullish(),
  type: z.literal('save_weights_for_sampler').nullish(),
});
/** `optimizer`: also restore the Adam moments (the SDK's load_state_with_optimizer); otherwise they start fresh. */
export const loadWeightsRequestSchema = z.strictObject({ model_id: modelId, path: z.string().min(1).max(1024), seq_id: seqId, optimizer: z.boolean().nullish(), type: z.literal('load_weights').nullish() });
/** `path` is a tinker:// URI: tinker://<model_id>/weights/<name> or tinker://<model_id>/sampler_weights/<name>. */
export const saveWeightsResponseSchema = z.object({ path: z.string(), type: z.literal('save_weights').nullish() });
export const saveWeightsForSamplerResponseSchema = z.object({ path: z.string(), type: z.literal('save_weights_for_sampler').nullish() });
export const loadWeightsResponseSchema = z.object({ path: z.string().nullish(), type: z.literal('load_weights').nullish() });

export const healthResponseSchema = z.object({ status: z.literal('ok') });
export const serverCapabilitiesSchema = z.object({
  supported_models: z.array(z.object({ model_name: z.string().nullish() })),
  /** Extension: the names of this server's extensions (docs/tinker-server.md), absent on other servers. */
  selfplay_extensions: z.array(z.string()).nullish(),
});

/** Every future-returning call answers this at once; the result comes from retrieve_future. */
export const untypedApiFutureSchema = z.object({ request_id: z.string(), model_id: z.string().nullish() });
export const retrieveFutureRequestSchema = z.strictObject({ request_id: z.string().min(1).max(128), model_id: z.string().nullish(), allow_metadata_only: z.boolean().nullish() });
/** Not ready yet: poll again. */
export const tryAgainResponseSchema = z.object({ type: z.literal('try_again'), request_id: z.string(), queue_state: z.enum(['active', 'paused_capacity', 'paused_rate_limit']) });
/** The call failed: `user` = the request was at fault (do not retry), `server` / `unknown` = may be retried. */
export const requestFailedResponseSchema = z.object({ error: z.string(), category: z.enum(['unknown', 'server', 'user']) });
/** unload_model: frees a model's weights on the server (its saved checkpoints stay). */
export const unloadModelRequestSchema = z.strictObject({ model_id: modelId, type: z.literal('unload_model').nullish() });
export const unloadModelResponseSchema = z.object({ model_id: z.string(), type: z.literal('unload_model').nullish() });

/**
 * compute_logprobs (extension): log p of each row's `tokens` given its `prompt`, from a base model (`base_model`)
 * or saved sampler weights (`model_path`), rows in micro-batches of `micro_batch` exactly as a local run scores them
 * against its frozen reference (the same numbers, not just close ones). Returns one list per row.
 */
export const computeLogprobsRequestSchema = z.strictObject({
  base_model: z.string().nullish(),
  model_path: z.string().nullish(),
  rows: z.array(z.strictObject({ prompt: z.array(tokenId).min(1), tokens: z.array(tokenId).min(1) })).min(1),
  micro_batch: z.number().int().positive().nullish(),
  type: z.literal('compute_logprobs').nullish(),
});
export const computeRowLogprobsResponseSchema = z.object({ logprobs: z.array(z.array(z.number())) });

/** What retrieve_future answers with HTTP 200: not ready, failed, or the call's result (its endpoint's response). */
export const retrieveFutureResponseSchema = z.union([tryAgainResponseSchema, requestFailedResponseSchema, z.record(z.string(), z.unknown())]);
/** A refused HTTP request (4xx/5xx), FastAPI's shape; `param` names the field at fault when there is one. */
export const httpErrorSchema = z.object({ detail: z.string(), param: z.string().nullish() });

/** Parses `value` with `schema`, or throws one InputError line naming `what` and the first field at fault. */
export function parseWire<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const at = issue.path.length ? issue.path.join('.') : '(root)';
  throw new InputError(`${what}: ${at}: ${issue.message}`);
}

const tokens = (ids: number[]): ModelInput => ({ chunks: [{ type: 'encoded_text', tokens: ids }] });
const f32 = (data: number[]): TensorData => ({ data, dtype: 'float32', shape: [data.length] });

/**
 * A row as an `importance_sampling` datum: the model sees prompt + sampled tokens but the last, position t targets
 * token t + 1; `logprobs` (the sampler's) and `advantages` (the row's per-token advantages) are 0 on prompt
 * positions, so only the sampled tokens count.
 */
export function importanceSamplingDatum(row: TrainRow): Datum {
  const adv = row.tokenAdvantages;
  if (!adv || adv.length !== row.tokens.length) throw new InputError(`importance_sampling datum: needs tokenAdvantages, one per sampled token (${row.tokens.length})`);
  const full = [...row.promptIds, ...row.tokens];
  const pad = new Array<number>(row.promptIds.length - 1).fill(0);
  return {
    model_input: tokens(full.slice(0, -1)),
    loss_fn_inputs: {
      target_tokens: { data: full.slice(1), dtype: 'int64', shape: [full.length - 1] },
      logprobs: f32([...pad, ...row.samplerLogprobs]),
      advantages: f32([...pad, ...adv]),
    },
  };
}

/** A sampled sequence from the wire as this project's Generation (`stop` means an end-of-turn token was sampled). */
export function generationOf(seq: z.infer<typeof sampledSequenceSchema>, what: string): Generation {
  if (!seq.logprobs || seq.logprobs.length !== seq.tokens.length) {
    throw new InputError(`${what}: the sequence has ${seq.tokens.length} tokens but ${seq.logprobs?.length ?? 'no'} log-probs`);
  }
  return { tokens: seq.tokens, logprobs: seq.logprobs, finishReason: seq.stop_reason === 'stop' ? 'eos' : 'length' };
}
