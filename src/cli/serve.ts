/**
 * `selfplay serve`: one chat model behind an OpenAI-compatible HTTP API, or (--tinker) the Tinker training API on
 * local base models, until SIGINT/SIGTERM.
 */
import * as path from 'node:path';
import { InputError } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import { Runtime } from '../runtime/runtime.ts';
import { checkBindSafety } from '../serve/auth.ts';
import { startServer } from '../serve/server.ts';
import { findBaseModels } from '../serve/tinker/registry.ts';
import { startTinkerServer } from '../serve/tinker/server.ts';

export interface ServeFlags {
  /** Model folders (chat: exactly one). */
  model?: string[];
  tinker?: boolean;
  modelDir?: string[];
  stateDir?: string;
  maxModels?: number;
  /** Falls back to the SELFPLAY_API_KEY environment variable. */
  apiKey?: string;
  port?: number;
  host?: string;
  name?: string;
  /** A Jinja chat template file used instead of the folder's own. */
  chatTemplate?: string;
  maxTokens?: number;
  maxBodyMb?: number;
  threads?: number;
  quiet?: boolean;
}

/** Requests in flight at SIGTERM/SIGINT get this long to finish before they are aborted (503). */
const GRACE_MS = 500;
/** The process exits by this time after the signal, whatever is still running (ONNX Runtime's teardown follows). */
const HARD_EXIT_MS = 1400;

export async function serveCommand(flags: ServeFlags): Promise<void> {
  const apiKey = flags.apiKey ?? (process.env.SELFPLAY_API_KEY || undefined); // an empty variable is no key
  const host = flags.host ?? '127.0.0.1';
  checkBindSafety(host, apiKey); // before any model is loaded
  if (flags.tinker) return serveTinker(flags, host, apiKey);
  if (flags.modelDir?.length || flags.stateDir || flags.maxModels) throw new InputError('--model-dir, --state-dir and --max-models go with --tinker');
  const models = flags.model ?? [];
  if (models.length !== 1) throw new InputError(`--model: the chat server serves exactly one model folder, got ${models.length}`);
  // No memory arenas: a server compiles a session per (batch rows, new tokens, cache slots) shape, and each arena
  // would keep its peak activations for the session's life (RSS grew 145 MB -> 2.6 GB over 1,800 requests).
  // Generation runs as fast without them (a 64-token batch of 8: 413 vs 486 ms on the default model).
  const runtime = new Runtime({ threads: flags.threads, memoryArena: false });
  const chat = ChatModel.load(models[0], runtime, 'served', { chatTemplateFile: flags.chatTemplate });
  const modelId = flags.name ?? path.basename(path.resolve(models[0]));
  const server = await startServer({
    chat,
    modelId,
    ...listenOptions(flags, host, apiKey),
    defaultMaxTokens: flags.maxTokens,
  });
  process.stdout.write(`serving ${modelId} at ${server.url} (OpenAI-compatible: /v1/models, /v1/chat/completions); Ctrl-C stops\n`);
  const signal = await stopSignal();
  const started = Date.now();
  setTimeout(() => process.exit(0), HARD_EXIT_MS).unref();
  await server.close(GRACE_MS);
  const settled = await Promise.race([server.batcher.idle().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 0))]);
  if (settled) await runtime.release(); // never release a session a model run may still be using
  process.stdout.write(`stopped on ${signal} in ${Date.now() - started} ms\n`);
  if (!settled) process.exit(0);
}

/** What both servers take from the flags alike: where to listen, the key, the body limit, the request log. */
const listenOptions = (flags: ServeFlags, host: string, apiKey: string | undefined) => ({
  host,
  apiKey,
  port: flags.port ?? 8000,
  maxBodyBytes: flags.maxBodyMb === undefined ? undefined : Math.round(flags.maxBodyMb * 2 ** 20),
  log: flags.quiet ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
});

const stopSignal = () =>
  new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

/** `serve --tinker`: the Tinker training API on the base models of --model / --model-dir. */
async function serveTinker(flags: ServeFlags, host: string, apiKey: string | undefined): Promise<void> {
  if (flags.name || flags.chatTemplate || flags.maxTokens) throw new InputError('--name, --chat-template and --max-tokens are options of the chat server, not of --tinker');
  const bases = findBaseModels(flags.model ?? [], flags.modelDir ?? []);
  // arenas off as for chat: every batch shape compiles its own session (training too: micro-batch x length)
  const runtime = new Runtime({ threads: flags.threads, memoryArena: false });
  const stateDir = flags.stateDir ?? path.join('runs', 'tinker-state');
  const server = await startTinkerServer({
    bases,
    stateDir,
    runtime,
    ...listenOptions(flags, host, apiKey),
    limits: flags.maxModels ? { maxModels: flags.maxModels, maxModelsPerClient: flags.maxModels } : undefined,
  });
  const names = server.registry.baseNames().join(', ');
  process.stdout.write(`Tinker API at ${server.url}/api/v1 on ${names}; checkpoints in ${path.resolve(stateDir)}${apiKey ? '; API key required' : ''}; Ctrl-C stops\n`);
  const signal = await stopSignal();
  const started = Date.now();
  setTimeout(() => process.exit(0), 5000).unref();
  await server.close(3000);
  process.stdout.write(`stopped on ${signal} in ${Date.now() - started} ms\n`);
  process.exit(0);
}
