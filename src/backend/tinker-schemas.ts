/**
 * The Tinker training API's wire types, as zod schemas pinned from the public Python SDK's `tinker.types`
 * (ModelInput, Datum, TensorData, ForwardBackwardInput/Output, AdamParams, SamplingParams, SampleResponse, LoraConfig
 * and the save/load responses), plus the conversion of this project's rows to and from them.
 *
 * Requests the SDK marks StrictBase are strict here (an unknown field is an error naming it); responses accept
 * extra fields (servers add their own). Not yet used by a client: there is no TinkerBackend and no `--backend` flag.
 */
import { z } from 'zod';
import { InputError } from '../errors.ts';
import type { Generation } from '../generate/generator.ts';
import type { TrainRow } from './backend.ts';

const tokenId = z.number().int().nonnegative();

export const tensorDataSchema = z.strictObject({
  data: z.array(z.number()),
  dtype: z.enum(['int64', 'float32']),
  shape: z.array(z.number().int().nonnegative()).nullish(),
});
export type TensorData = z.infer<typeof tensorDataSchema>;

export const encodedTextChunkSchema = z.strictObject({ tokens: z.array(tokenId), type: z.literal('encoded_text') });
export const imageAssetPointerChunkSchema = z.strictObject({
  format: z.enum(['png', 'jpeg']),
  height: z.number().int(),
  location: z.string(),
  tokens: z.number().int(),
  width: z.number().int(),
  type: z.literal('image_asset_pointer'),
});
export const modelInputSchema = z.strictObject({ chunks: z.array(z.discriminatedUnion('type', [encodedTextChunkSchema, imageAssetPointerChunkSchema])) });
export type ModelInput = z.infer<typeof modelInputSchema>;

export const LOSS_FNS = ['cross_entropy', 'importance_sampling', 'ppo'] as const;
export const lossFnSchema = z.enum(LOSS_FNS);

export const datumSchema = z.strictObject({ model_input: modelInputSchema, loss_fn_inputs: z.record(z.string(), tensorDataSchema) });
export type Datum = z.infer<typeof datumSchema>;

export const forwardBackwardInputSchema = z.strictObject({ data: z.array(datumSchema), loss_fn: lossFnSchema, loss_fn_config: z.record(z.string(), z.number()).nullish() });
export type ForwardBackwardInput = z.infer<typeof forwardBackwardInputSchema>;

export const forwardBackwardOutputSchema = z.object({
  loss_fn_output_type: z.string(),
  loss_fn_outputs: z.array(z.record(z.string(), tensorDataSchema)),
  metrics: z.record(z.string(), z.number()),
});

export const adamParamsSchema = z.strictObject({
  learning_rate: z.number().nonnegative().default(1e-4),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.95),
  eps: z.number().positive().default(1e-12),
});
export const optimStepResponseSchema = z.object({ metrics: z.record(z.string(), z.number()).nullish() });

export const loraConfigSchema = z.strictObject({
  rank: z.number().int().positive(),
  seed: z.number().int().nullish(),
  train_unembed: z.boolean().default(true),
  train_mlp: z.boolean().default(true),
  train_attn: z.boolean().default(true),
});

export const samplingParamsSchema = z.object({
  max_tokens: z.number().int().positive().nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string()), z.array(tokenId)]).nullish(),
  temperature: z.number().nonnegative().default(1),
  top_k: z.number().int().default(-1),
  top_p: z.number().gt(0).max(1).default(1),
});
export const sampleRequestSchema = z.strictObject({
  prompt: modelInputSchema,
  sampling_params: samplingParamsSchema,
  num_samples: z.number().int().positive().default(1),
  base_model: z.string().nullish(),
  model_path: z.string().nullish(),
  prompt_logprobs: z.boolean().nullish(),
});
export const sampledSequenceSchema = z.object({ stop_reason: z.enum(['length', 'stop']), tokens: z.array(tokenId), logprobs: z.array(z.number()).nullish() });
export const sampleResponseSchema = z.object({
  sequences: z.array(sampledSequenceSchema),
  type: z.literal('sample').optional(),
  prompt_logprobs: z.array(z.number().nullable()).nullish(),
});
export const computeLogprobsResponseSchema = z.object({ logprobs: z.array(z.number().nullable()) });
export const createModelResponseSchema = z.object({ model_id: z.string() });
export const saveWeightsResponseSchema = z.object({ path: z.string() });
export const loadWeightsResponseSchema = z.object({ path: z.string().nullish() });
export const getInfoResponseSchema = z.object({
  model_data: z.object({ arch: z.string().nullish(), model_name: z.string().nullish() }),
  model_id: z.string(),
  is_lora: z.boolean().nullish(),
  lora_rank: z.number().int().nullish(),
  model_name: z.string().nullish(),
});
export const serverCapabilitiesSchema = z.object({ supported_models: z.array(z.object({ model_name: z.string().nullish() })) });

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
