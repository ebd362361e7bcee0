/**
 * A run whose weights train on a Tinker-compatible service (`backend: tinker:URL`). This process keeps the game,
 * the rewards, the run folder and the text side (the `model` folder's tokenizer and chat template, no weights read);
 * the service samples, scores the reference, and trains. Checkpoints record the service's save_weights path
 * (remote.json), so a resume, in a new process and against a restarted service that kept its state, continues on
 * the saved weights and optimizer. The trained model stays on the service: remote-model.json in the run folder says
 * where.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TinkerBackend } from '../backend/tinker.ts';
import { InputError } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { loadCheckpointMeta, saveCheckpoint } from './checkpoint.ts';
import type { Loaded, RunSettings } from './lsp.ts';
import { resumePoint } from './run-scaffold.ts';

/** The service's URL of `tinker:URL`. */
export function serviceUrl(backend: string): string {
  if (!backend.startsWith('tinker:')) throw new InputError(`backend ${backend}: not a tinker:URL backend`);
  return backend.slice('tinker:'.length);
}

/** The client of the run's service, with the run's retry and time-limit settings. */
export function tinkerBackend(s: RunSettings, log: (line: string) => void): TinkerBackend {
  const timeoutMs = (s.remoteTimeoutSeconds ?? 600) * 1000;
  return new TinkerBackend({
    http: { url: serviceUrl(s.backend ?? ''), apiKey: s.apiKey ?? null, retries: s.remoteRetries ?? 5, requestTimeoutMs: timeoutMs, futureTimeoutMs: timeoutMs, log },
    baseModel: s.baseModel ?? null,
    lora: s.lora,
    seed: s.seed,
    adam: { weightDecay: s.weightDecay, gradClip: s.gradClip },
    runName: path.basename(path.resolve(s.out)).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'run',
  });
}

/** Before the run folder is claimed: the service answers (one line naming it, and why, if not). */
export async function probeService(s: RunSettings): Promise<void> {
  await tinkerBackend(s, (line) => process.stderr.write(`${line}\n`)).probe();
}

/** The backend of a remote run: connected to the service, at the newest usable checkpoint (or a new model). */
export async function loadRemote(s: RunSettings, runtime: Runtime, log: (line: string) => void): Promise<Loaded> {
  const text = ChatModel.load(s.model, runtime, 'text', { chatTemplateFile: s.chatTemplate ?? undefined, textOnly: true });
  const backend = tinkerBackend(s, log);
  const resumed = resumePoint(s.out, (dir) => {
    const { state, optimizerStep } = loadCheckpointMeta(dir);
    backend.loadState(dir, { optimizerStep });
    return { step: state.step, value: true };
  }, log);
  await backend.connect();
  const finalFile = path.join(s.out, 'remote-model.json');
  return {
    backend,
    text,
    start: resumed.start,
    checkpoint: async (dir, iteration) => {
      await backend.flush(path.basename(dir));
      saveCheckpoint(dir, { backend, state: { step: iteration, rngState: s.seed, extra: { model: s.model, backend: s.backend } } });
    },
    saveFinal: () => backend.finish(s.out),
    finished: () => fs.existsSync(finalFile),
  };
}
