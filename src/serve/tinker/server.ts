/**
 * `selfplay serve --tinker`: LocalBackend behind the Tinker training API over HTTP (node:http), so a Tinker client
 * (this project's TinkerBackend, or the Python SDK/cookbook) can train on this machine's CPU. Endpoints, extensions
 * and limits: docs/tinker-server.md; the wire schemas: src/backend/tinker-schemas.ts and tinker-api.ts.
 *
 * Every request: API key (when set; constant time, auth.ts) -> 401; route -> 404/405; Content-Type (415) and body
 * size (413, before reading) as the chat server does (limits.ts); schema -> 400 naming the first field at fault.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import type { z } from 'zod';
import { TINKER_ENDPOINTS, type TinkerEndpointName } from '../../backend/tinker-api.ts';
import { InputError } from '../../errors.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { removeStaleTemps } from '../../util/fs.ts';
import { apiKeyCheck, checkBindSafety } from '../auth.ts';
import { checkContentType, DEFAULT_MAX_BODY_BYTES, DRAIN_BYTES, readJsonBody } from '../limits.ts';
import { RequestError } from '../protocol.ts';
import { FutureStore, type FutureLimits } from './futures.ts';
import { type Ctx, HANDLERS, notFound, type Outcome } from './handlers.ts';
import { Registry, type RegistryLimits } from './registry.ts';

export interface TinkerServeOptions {
  /** Base model name -> HF folder (registry.ts findBaseModels). */
  bases: Map<string, string>;
  /** Where checkpoints are written; created if missing. */
  stateDir: string;
  runtime: Runtime;
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Required off loopback; checked on every request when set. */
  apiKey?: string;
  /** Largest request body (default 64 MiB: a forward_backward batch of long sequences is big). */
  maxBodyBytes?: number;
  limits?: Partial<RegistryLimits & FutureLimits & { longPollMs: number }>;
  log?: (line: string) => void;
}

export const DEFAULT_TINKER_LIMITS = {
  maxModels: 4,
  maxModelsPerClient: 4,
  maxSessionsPerClient: 16,
  sessionTtlMs: 60 * 60_000,
  maxPendingPerClient: 256,
  ttlMs: 10 * 60_000,
  longPollMs: 10_000,
};
export const DEFAULT_TINKER_MAX_BODY_BYTES = 64 << 20;

export interface RunningTinkerServer {
  /** e.g. http://127.0.0.1:8000 (the API is under /api/v1). */
  url: string;
  registry: Registry;
  futures: FutureStore;
  /** Stops accepting, lets queued work finish (up to `graceMs`), closes every connection. */
  close(graceMs?: number): Promise<void>;
}

const ROUTES = new Map(Object.entries(TINKER_ENDPOINTS).map(([name, ep]) => [ep.path, name as TinkerEndpointName]));

/** `schema` applied to `value`, or a 400 naming the first field at fault. */
function parseBody<S extends z.ZodType>(schema: S, value: unknown, name: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const at = [...issue.path, ...(keys.length === 1 ? keys : [])].join('.') || null;
  throw new RequestError(`${name}: ${at ?? '(body)'}: ${issue.message}`, at);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function handle(c: Ctx, url: string, req: http.IncomingMessage, res: http.ServerResponse, maxBody: number): Promise<string> {
  const name = ROUTES.get(url);
  if (!name) throw notFound(req.method ?? '?', url);
  const ep = TINKER_ENDPOINTS[name];
  if (req.method !== ep.method) throw new RequestError(`${req.method} ${url}: use ${ep.method}`, null, 405, 'method_not_allowed');
  let body: unknown;
  if (ep.request) {
    checkContentType(req.headers['content-type']);
    body = parseBody(ep.request, await readJsonBody(req, maxBody), name);
  }
  const client = req.socket.remoteAddress ?? 'unknown';
  const handler = HANDLERS[name] as (c: Ctx, body: unknown, client: string) => Outcome | Promise<Outcome>;
  const out = await handler(c, body, client);
  if ('sync' in out) {
    sendJson(res, 200, out.sync);
    return name;
  }
  const id = c.futures.submit(client, out.work);
  sendJson(res, 200, { request_id: id, ...(out.modelId ? { model_id: out.modelId } : {}) });
  return `${name} -> ${id}`;
}

/** The error response, FastAPI's shape {detail} plus `param`; 500 only for a fault of the server itself. */
function sendError(res: http.ServerResponse, req: http.IncomingMessage, e: unknown): number {
  const known = e instanceof RequestError;
  const status = known ? e.status : e instanceof InputError ? 400 : 500;
  if (res.headersSent) {
    res.end();
    return status;
  }
  if (!req.complete && Number(req.headers['content-length'] ?? 0) > DRAIN_BYTES) res.setHeader('connection', 'close');
  if (status === 429) res.setHeader('retry-after', '1');
  const detail = status === 500 ? `server: ${(e as Error).message}` : (e as Error).message;
  sendJson(res, status, { detail, param: known ? e.param : null });
  return status;
}

/** Starts listening; resolves when the port is bound. Refuses a non-loopback host without an API key. */
export async function startTinkerServer(o: TinkerServeOptions): Promise<RunningTinkerServer> {
  checkBindSafety(o.host, o.apiKey);
  fs.mkdirSync(o.stateDir, { recursive: true });
  for (const model of fs.readdirSync(o.stateDir)) {
    for (const kind of ['weights', 'sampler_weights']) removeStaleTemps(`${o.stateDir}/${model}/${kind}`);
  }
  const limits = { ...DEFAULT_TINKER_LIMITS, ...o.limits };
  const reg = new Registry(o.bases, o.runtime, limits);
  const futures = new FutureStore(limits);
  const c: Ctx = { reg, futures, stateDir: o.stateDir, longPollMs: limits.longPollMs, ephemeral: { n: 0 } };
  const authorized = apiKeyCheck(o.apiKey);
  const maxBody = o.maxBodyBytes ?? DEFAULT_TINKER_MAX_BODY_BYTES;
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const start = Date.now();
    const url = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const done = (status: number, note = '') => o.log?.(`${req.method} ${url} ${status}${note ? ` ${note}` : ''} ${Date.now() - start}ms`);
    const work = authorized(req) ? handle(c, url, req, res, maxBody) : Promise.reject(new RequestError('unauthorized: send the API key as X-API-Key or Authorization: Bearer', null, 401, 'unauthorized'));
    work.then((note) => done(res.statusCode, note)).catch((e) => done(sendError(res, req, e), (e as Error).message));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const sweeper = setInterval(() => reg.expireSessions(), 30_000).unref();
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const close = async (graceMs = 2000) => {
    clearInterval(sweeper);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([futures.idle(), new Promise((r) => setTimeout(r, graceMs).unref())]);
    futures.close();
    for (const s of sockets) s.destroy();
    await closed;
  };
  return { url: `http://${host}:${port}`, registry: reg, futures, close };
}
