/**
 * An OpenAI-compatible HTTP server for one chat model (node:http): `GET /v1/models` and
 * `POST /v1/chat/completions` (messages through the model's chat template; temperature, top_p, max_tokens, seed,
 * n, stop). Concurrent requests are batched (batcher.ts). `stream: true` is answered as server-sent events, but
 * only once the whole completion is ready (one content chunk, then the finish chunk and `[DONE]`).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatModel } from '../generate/chat.ts';
import type { Generation } from '../generate/generator.ts';
import { Batcher, type BatchParams } from './batcher.ts';
import { errorBody, parseCompletionRequest, RequestError, type CompletionRequest } from './protocol.ts';

export interface ServeOptions {
  chat: ChatModel;
  /** The model's name in /v1/models and responses. */
  modelId: string;
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Completion budget when a request gives none (default 512, capped by the context left). */
  defaultMaxTokens?: number;
  batchWindowMs?: number;
  maxBatchRows?: number;
  /** One line per request (default: none). */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8000/v1 */
  url: string;
  batcher: Batcher;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 8 << 20;

/** A completed choice: text cut at the first stop string; eos and stop strings finish as "stop". */
function choiceOf(chat: ChatModel, gen: Generation, stop: readonly string[]) {
  let text = chat.textOf(gen.tokens);
  const cut = Math.min(...stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
  if (Number.isFinite(cut)) text = text.slice(0, cut);
  return { text, finishReason: gen.finishReason === 'length' && !Number.isFinite(cut) ? 'length' : 'stop' };
}

function promptIdsOf(chat: ChatModel, req: CompletionRequest): number[] {
  const text = chat.tokenizer.applyChatTemplate(req.messages, { addGenerationPrompt: true });
  return chat.tokenizer.encode(text, { addSpecialTokens: false });
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RequestError(`body: larger than ${MAX_BODY_BYTES} bytes`, null, 413);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new RequestError(`body: invalid JSON (${(e as Error).message})`);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The chat.completion object, or its server-sent-event chunks when streaming. */
function sendCompletion(res: http.ServerResponse, o: ServeOptions, req: CompletionRequest, promptTokens: number, gens: Generation[]): void {
  const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const choices = gens.map((g) => choiceOf(o.chat, g, req.stop));
  const completionTokens = gens.reduce((a, g) => a + g.tokens.length, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (!req.stream) {
    sendJson(res, 200, {
      id, object: 'chat.completion', created, model: o.modelId,
      choices: choices.map((c, index) => ({ index, message: { role: 'assistant', content: c.text }, finish_reason: c.finishReason, logprobs: null })),
      usage,
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const event = (delta: object, index: number, finish: string | null) =>
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: o.modelId, choices: [{ index, delta, finish_reason: finish, logprobs: null }] })}\n\n`);
  choices.forEach((c, index) => {
    event({ role: 'assistant', content: c.text }, index, null);
    event({}, index, c.finishReason);
  });
  res.end('data: [DONE]\n\n');
}

async function chatCompletions(o: ServeOptions, batcher: Batcher, httpReq: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
  const req = parseCompletionRequest(await readJson(httpReq), o.modelId);
  const prompt = promptIdsOf(o.chat, req);
  const context = o.chat.engine.cfg.maxPositionEmbeddings;
  if (prompt.length >= context) {
    throw new RequestError(`messages: ${prompt.length} prompt tokens do not fit the model's context of ${context} tokens`, 'messages', 400, 'context_length_exceeded');
  }
  const params: BatchParams = {
    temperature: req.temperature,
    topP: req.topP,
    maxNewTokens: Math.min(req.maxTokens ?? o.defaultMaxTokens ?? 512, context - prompt.length),
    seed: req.seed,
    stop: req.stop,
  };
  const gens = await batcher.submit(prompt, req.n, params);
  sendCompletion(res, o, req, prompt.length, gens);
  return `prompt ${prompt.length} tokens, completion ${gens.reduce((a, g) => a + g.tokens.length, 0)} tokens`;
}

/** Starts listening; resolves when the port is bound. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const { chat } = o;
  const batcher = new Batcher(
    (prompts, p) =>
      chat.generator.generate(prompts, {
        temperature: p.temperature,
        topP: p.topP,
        topK: 0,
        maxNewTokens: p.maxNewTokens,
        seed: p.seed,
        eosIds: chat.eosIds,
        sampleableVocab: chat.tokenizer.vocabSize,
        shouldStop: p.stop.length === 0 ? undefined : (tokens) => p.stop.some((s) => chat.textOf(tokens).includes(s)),
      }),
    { windowMs: o.batchWindowMs, maxRows: o.maxBatchRows },
  );
  const server = http.createServer((req, res) => {
    const start = Date.now();
    const url = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const done = (status: number, note = '') => o.log?.(`${req.method} ${url} ${status}${note ? ` ${note}` : ''} ${Date.now() - start}ms`);
    void handle(o, batcher, url, req, res)
      .then((note) => done(res.statusCode, note))
      .catch((e) => {
        const known = e instanceof RequestError;
        const status = known ? e.status : 500;
        if (!res.headersSent) {
          sendJson(res, status, errorBody((e as Error).message, known ? 'invalid_request_error' : 'server_error', known ? e.param : null, known ? e.code : null));
        } else res.end();
        done(status, (e as Error).message);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}/v1`,
    batcher,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(o: ServeOptions, batcher: Batcher, url: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
  if (url === '/v1/models' || url === `/v1/models/${o.modelId}`) {
    if (req.method !== 'GET') throw new RequestError(`${req.method} ${url}: use GET`, null, 405);
    const model = { id: o.modelId, object: 'model', created: 0, owned_by: 'selfplay' };
    sendJson(res, 200, url === '/v1/models' ? { object: 'list', data: [model] } : model);
    return '';
  }
  if (url === '/v1/chat/completions') {
    if (req.method !== 'POST') throw new RequestError(`${req.method} ${url}: use POST`, null, 405);
    return chatCompletions(o, batcher, req, res);
  }
  throw new RequestError(`${req.method} ${url}: not found; this server has GET /v1/models and POST /v1/chat/completions`, null, 404);
}
