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
  threads?: number;
  quiet?: boolean;
}

export async function serveCommand(flags: ServeFlags): Promise<void> {
  const runtime = new Runtime({ threads: flags.threads });
  const chat = ChatModel.load(flags.model, runtime, 'served', { chatTemplateFile: flags.chatTemplate });
  const modelId = flags.name ?? path.basename(path.resolve(flags.model));
  const server = await startServer({
    chat,
    modelId,
    host: flags.host ?? '127.0.0.1',
    port: flags.port ?? 8000,
    defaultMaxTokens: flags.maxTokens,
    log: flags.quiet ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  });
  process.stdout.write(`serving ${modelId} at ${server.url} (OpenAI-compatible: /v1/models, /v1/chat/completions); Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await runtime.release();
}
