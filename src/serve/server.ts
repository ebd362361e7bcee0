/**
 * An OpenAI-compatible HTTP server for one chat model (node:http): `GET /v1/models` and
 * `POST /v1/chat/completions` (messages through the model's chat template; temperature, top_p, max_tokens, seed,
 * n, stop). Concurrent requests are batched (batcher.ts). `stream: true` is answered as server-sent events, but
 * only once the whole completion is ready (one content chunk, then the finish chunk and `[DONE]`).
 *
 * Limits (limits.ts): Content-Type application/json (415), a body size limit (413, from Content-Length before
 * reading), and prompts whose text cannot fit the context are refused before tokenizing. `close` stops accepting,
 * lets requests in flight finish for a grace period, then aborts the rest (503) and closes every connection.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatModel } from '../generate/chat.ts';
import type { Generation } from '../generate/generator.ts';
import { apiKeyCheck, checkBindSafety } from './auth.ts';
import { Batcher, type BatchParams } from './batcher.ts';
import { checkContentType, checkFits, DEFAULT_MAX_BODY_BYTES, DRAIN_BYTES, longestTokenChars, readJsonBody } from './limits.ts';
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
  /** Largest request body in bytes (default 2 MiB); larger is refused with 413 before it is read. */
  maxBodyBytes?: number;
  /** Required on every request when set (X-API-Key or Authorization: Bearer; auth.ts). */
  apiKey?: string;
  /** One line per request (default: none). */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8000/v1 */
  url: string;
  batcher: Batcher;
  /** Stops accepting; requests in flight get `graceMs` (default 1000) to finish, then are aborted with 503. */
  close(graceMs?: number): Promise<void>;
}

/** What requests in flight at shutdown (past the grace period) and requests after it are answered. */
const shuttingDown = () => new RequestError('server: shutting down; retry on another instance or after restart', null, 503, 'server_shutting_down');

/** The pieces a request handler needs. */
interface Context {
  o: ServeOptions;
  batcher: Batcher;
  /** Most characters one token can cover (limits.ts). */
  tokenChars: number;
}

/** A completed choice: text cut at the first stop string; eos and stop strings finish as "stop". */
function choiceOf(chat: ChatModel, gen: Generation, stop: readonly string[]) {
  let text = chat.textOf(gen.tokens);
  const cut = Math.min(...stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
  if (Number.isFinite(cut)) text = text.slice(0, cut);
  return { text, finishReason: gen.finishReason === 'length' && !Number.isFinite(cut) ? 'length' : 'stop' };
}

/** The prompt's ids; text that cannot fit the context is refused before rendering and again before tokenizing. */
function promptIdsOf(chat: ChatModel, req: CompletionRequest, tokenChars: number): number[] {
  const context = chat.engine.cfg.maxPositionEmbeddings;
  checkFits(req.messages.reduce((a, m) => a + m.content.length, 0), "the messages' text", context, tokenChars);
  let text: string;
  try {
    text = chat.tokenizer.applyChatTemplate(req.messages, { addGenerationPrompt: true });
  } catch (e) {
    // the template was rendered once at start, so a failure here is about these messages (e.g. raise_exception)
    throw new RequestError(`messages: the model's chat template refused them: ${(e as Error).message}`, 'messages');
  }
  checkFits(text.length, 'the prompt rendered by the chat template', context, tokenChars);
  return chat.tokenizer.encode(text, { addSpecialTokens: false });
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

async function chatCompletions(c: Context, httpReq: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
  const { o, batcher } = c;
  checkContentType(httpReq.headers['content-type']);
  const req = parseCompletionRequest(await readJsonBody(httpReq, o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES), o.modelId);
  const prompt = promptIdsOf(o.chat, req, c.tokenChars);
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

function batcherOf(o: ServeOptions): Batcher {
  const { chat } = o;
  return new Batcher(
    (prompts, p, signal) =>
      chat.generator.generate(prompts, {
        temperature: p.temperature,
        topP: p.topP,
        topK: 0,
        maxNewTokens: p.maxNewTokens,
        seed: p.seed,
        eosIds: chat.eosIds,
        sampleableVocab: chat.tokenizer.vocabSize,
        shouldStop: p.stop.length === 0 ? undefined : (tokens) => p.stop.some((s) => chat.textOf(tokens).includes(s)),
        signal,
      }),
    { windowMs: o.batchWindowMs, maxRows: o.maxBatchRows },
  );
}

/** The error response (OpenAI's shape); 500 only for a fault of the server itself. */
function sendError(res: http.ServerResponse, req: http.IncomingMessage, e: unknown): number {
  const known = e instanceof RequestError;
  const status = known ? e.status : 500;
  if (res.headersSent) {
    res.end();
    return status;
  }
  const undrained = !req.complete && Number(req.headers['content-length'] ?? 0) > DRAIN_BYTES;
  if (undrained || status === 503) res.setHeader('connection', 'close');
  const message = known ? e.message : `server: ${(e as Error).message}`;
  sendJson(res, status, errorBody(message, known ? 'invalid_request_error' : 'server_error', known ? e.param : null, known ? e.code : null));
  return status;
}

/** Starts listening; resolves when the port is bound. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  o.chat.tokenizer.applyChatTemplate([{ role: 'user', content: 'hello' }], { addGenerationPrompt: true }); // a broken template fails here
  const c: Context = { o, batcher: batcherOf(o), tokenChars: longestTokenChars(o.chat.tokenizer) };
  checkBindSafety(o.host, o.apiKey);
  const authorized = apiKeyCheck(o.apiKey);
  const unauthorized = () => new RequestError('unauthorized: send the API key as Authorization: Bearer or X-API-Key', null, 401, 'invalid_api_key');
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  const server = http.createServer((req, res) => {
    const start = Date.now();
    const url = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const done = (status: number, note = '') => o.log?.(`${req.method} ${url} ${status}${note ? ` ${note}` : ''} ${Date.now() - start}ms`);
    const work = (stopping ? Promise.reject(shuttingDown()) : !authorized(req) ? Promise.reject(unauthorized()) : handle(c, url, req, res))
      .then((note) => done(res.statusCode, note))
      .catch((e) => done(sendError(res, req, e), (e as Error).message))
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const close = async (graceMs = 1000) => {
    stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([Promise.allSettled([...inFlight]), sleep(graceMs)]);
    await Promise.race([c.batcher.abort(shuttingDown()), sleep(500)]);
    await Promise.race([Promise.allSettled([...inFlight]), sleep(100)]);
    server.closeAllConnections();
    await closed;
  };
  return { url: `http://${host}:${port}/v1`, batcher: c.batcher, close };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

async function handle(c: Context, url: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
  const { o } = c;
  if (url === '/v1/models' || url === `/v1/models/${o.modelId}`) {
    if (req.method !== 'GET') throw new RequestError(`${req.method} ${url}: use GET`, null, 405);
    const model = { id: o.modelId, object: 'model', created: 0, owned_by: 'selfplay' };
    sendJson(res, 200, url === '/v1/models' ? { object: 'list', data: [model] } : model);
    return '';
  }
  if (url === '/v1/chat/completions') {
    if (req.method !== 'POST') throw new RequestError(`${req.method} ${url}: use POST`, null, 405);
    return chatCompletions(c, req, res);
  }
  throw new RequestError(`${req.method} ${url}: not found; this server has GET /v1/models and POST /v1/chat/completions`, null, 404);
}
