/**
 * One handler per endpoint of the Tinker API table (src/backend/tinker-api.ts). A sync handler returns the response
 * body; a future handler checks the request now (faults: HTTP 4xx naming the field) and returns the work to queue.
 */
import type { z } from 'zod';
import { SELFPLAY_EXTENSIONS, type TinkerEndpointName, TINKER_ENDPOINTS } from '../../backend/tinker-api.ts';
import { RequestError } from '../protocol.ts';
import type { FutureStore } from './futures.ts';
import { checkLoadPath, checkSample, checkSource, loraOf, runLoadWeights, runSample, runSaveForSampler, runSaveWeights, samplerOf } from './ops.ts';
import type { Registry } from './registry.ts';
import { checkpointDir } from './state-dir.ts';
import { checkTrainInput, DEFAULT_MICRO_BATCH, forward, forwardBackward, optimStep } from './train-ops.ts';

export interface Ctx {
  reg: Registry;
  futures: FutureStore;
  stateDir: string;
  /** How long retrieve_future waits for an answer before saying try_again. */
  longPollMs: number;
  /** Counter of unnamed sampler saves. */
  ephemeral: { n: number };
}

type Body<N extends TinkerEndpointName> = (typeof TINKER_ENDPOINTS)[N]['request'] extends z.ZodType ? z.infer<(typeof TINKER_ENDPOINTS)[N]['request']> : undefined;

/** sync: the body to send. future: the model it concerns (if any) and the work to queue. */
export type Outcome = { sync: unknown } | { modelId: string | null; work: () => Promise<unknown> };

type Handlers = { [N in TinkerEndpointName]: (c: Ctx, body: Body<N>, client: string) => Outcome | Promise<Outcome> };

const future = (modelId: string | null, work: () => unknown): Outcome => ({ modelId, work: async () => work() });

export const HANDLERS: Handlers = {
  healthz: () => ({ sync: { status: 'ok' } }),
  get_server_capabilities: (c) => ({ sync: { supported_models: c.reg.baseNames().map((model_name) => ({ model_name })), selfplay_extensions: [...SELFPLAY_EXTENSIONS] } }),
  create_session: (c, _b, client) => ({ sync: { type: 'create_session', session_id: c.reg.createSession(client) } }),
  session_heartbeat: (c, b) => {
    c.reg.heartbeat(b.session_id);
    return { sync: { type: 'session_heartbeat' } };
  },
  create_sampling_session: (c, b) => {
    c.reg.heartbeat(b.session_id);
    checkSource(c.reg, c.stateDir, b);
    const id = `sampling_${c.reg.samplingSessions.size + 1}_${Date.now().toString(36)}`;
    c.reg.samplingSessions.set(id, { base: b.base_model ?? null, modelPath: b.model_path ?? null });
    return { sync: { type: 'create_sampling_session', sampling_session_id: id } };
  },
  create_model: (c, b, client) => {
    c.reg.folderOf(b.base_model);
    const lora = loraOf(b.lora_config);
    if (b.session_id) c.reg.heartbeat(b.session_id);
    c.reg.checkCanCreate(client);
    const seed = b.lora_config?.seed ?? 0;
    return future(null, () => {
      const m = c.reg.create({ base: b.base_model, lora, seed, client, sessionId: b.session_id ?? null });
      return { model_id: m.id, type: 'create_model' };
    });
  },
  get_info: (c, b) => {
    const m = c.reg.model(b.model_id);
    const name = m.base;
    return { sync: { type: 'get_info', model_id: m.id, model_data: { arch: 'llama', model_name: name }, is_lora: m.lora !== null, lora_rank: m.lora?.rank ?? 0, model_name: name } };
  },
  unload_model: (c, b) => {
    c.reg.model(b.model_id);
    return future(b.model_id, () => {
      c.reg.unload(b.model_id);
      return { model_id: b.model_id, type: 'unload_model' };
    });
  },
  forward: (c, b) => {
    c.reg.model(b.model_id);
    checkTrainInput(b.forward_input, 'forward_input');
    return future(b.model_id, () => forward(c.reg.model(b.model_id), b.forward_input));
  },
  forward_backward: (c, b) => {
    c.reg.model(b.model_id);
    checkTrainInput(b.forward_backward_input, 'forward_backward_input');
    return future(b.model_id, () => forwardBackward(c.reg.model(b.model_id), b.forward_backward_input));
  },
  optim_step: (c, b) => {
    c.reg.model(b.model_id);
    return future(b.model_id, () => optimStep(c.reg.model(b.model_id), b.adam_params, b.skip ?? false));
  },
  asample: (c, b) => {
    const src = checkSource(c.reg, c.stateDir, b);
    checkSample(b);
    return future(null, () => runSample(samplerOf(c.reg, c.stateDir, src), b));
  },
  compute_logprobs: (c, b) => {
    const src = checkSource(c.reg, c.stateDir, b);
    const rows = b.rows.map((r) => ({ promptIds: r.prompt, tokens: r.tokens }));
    return future(null, async () => ({ logprobs: await samplerOf(c.reg, c.stateDir, src).logprobs(rows, b.micro_batch ?? DEFAULT_MICRO_BATCH) }));
  },
  save_weights_for_sampler: (c, b) => {
    c.reg.model(b.model_id);
    const name = b.path ?? null;
    if (name !== null) checkpointDir(c.stateDir, b.model_id, 'sampler_weights', name);
    const n = c.ephemeral.n++;
    return future(b.model_id, () => runSaveForSampler(c.reg, c.stateDir, c.reg.model(b.model_id), name, n));
  },
  save_weights: (c, b) => {
    c.reg.model(b.model_id);
    const name = b.path ?? `ckpt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    checkpointDir(c.stateDir, b.model_id, 'weights', name);
    return future(b.model_id, () => runSaveWeights(c.stateDir, c.reg.model(b.model_id), name, b.overwrite));
  },
  load_weights: (c, b) => {
    c.reg.model(b.model_id);
    checkLoadPath(c.stateDir, b.path);
    return future(b.model_id, () => runLoadWeights(c.reg, c.stateDir, c.reg.model(b.model_id), b.path, b.optimizer ?? false));
  },
  retrieve_future: async (c, b) => {
    const a = await c.futures.retrieve(b.request_id, c.longPollMs);
    if (!a.done) return { sync: { type: 'try_again', request_id: b.request_id, queue_state: 'active' } };
    if (a.ok) return { sync: a.value };
    return { sync: { error: a.error, category: a.category } };
  },
};

/** A request to an endpoint this table does not have: 404 listing the paths. */
export function notFound(method: string, url: string): RequestError {
  const paths = Object.values(TINKER_ENDPOINTS).map((e) => `${e.method} ${e.path}`).join(', ');
  return new RequestError(`${method} ${url}: not found; this server has ${paths}`, null, 404, 'not_found');
}
