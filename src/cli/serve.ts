/** `selfplay serve`: one chat model behind an OpenAI-compatible HTTP API until SIGINT/SIGTERM. */
import * as path from 'node:path';
import { ChatModel } from '../generate/chat.ts';
import { Runtime } from '../runtime/runtime.ts';
import { startServer } from '../serve/server.ts';

export interface ServeFlags {
  model: string;
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
  // No memory arenas: a server compiles a session per (batch rows, new tokens, cache slots) shape, and each arena
  // would keep its peak activations for the session's life (RSS grew 145 MB -> 2.6 GB over 1,800 requests).
  // Generation runs as fast without them (a 64-token batch of 8: 413 vs 486 ms on the default model).
  const runtime = new Runtime({ threads: flags.threads, memoryArena: false });
  const chat = ChatModel.load(flags.model, runtime, 'served', { chatTemplateFile: flags.chatTemplate });
  const modelId = flags.name ?? path.basename(path.resolve(flags.model));
  const server = await startServer({
    chat,
    modelId,
    host: flags.host ?? '127.0.0.1',
    port: flags.port ?? 8000,
    defaultMaxTokens: flags.maxTokens,
    maxBodyBytes: flags.maxBodyMb === undefined ? undefined : Math.round(flags.maxBodyMb * 2 ** 20),
    log: flags.quiet ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  });
  process.stdout.write(`serving ${modelId} at ${server.url} (OpenAI-compatible: /v1/models, /v1/chat/completions); Ctrl-C stops\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const started = Date.now();
  setTimeout(() => process.exit(0), HARD_EXIT_MS).unref();
  await server.close(GRACE_MS);
  const settled = await Promise.race([server.batcher.idle().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 0))]);
  if (settled) await runtime.release(); // never release a session a model run may still be using
  process.stdout.write(`stopped on ${signal} in ${Date.now() - started} ms\n`);
  if (!settled) process.exit(0);
}
