/**
 * The dashboard's HTTP server: read-only, GET/HEAD only, loopback by default. It serves the page (bundled once at
 * start-up), JSON views of the runs, the feed a page at a time, raw files inside RUNS_DIR (as plain text, never
 * as a page), and server-sent events that tell open pages when a run's logs grow.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../errors.ts';
import { pageAssets, type PageAssets } from './page.ts';
import { RunStore } from './runs.ts';
import { resolveInside } from './safe-path.ts';
import { parseFilter } from './view-data.ts';

export interface DashboardOptions {
  root: string;
  port?: number;
  host?: string;
  /** How often the run folders are checked for new lines (ms). */
  pollMs?: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:";

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...SECURITY_HEADERS, ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const json = (res: http.ServerResponse, value: unknown, status = 200) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
const fail = (res: http.ServerResponse, status: number, message: string) => json(res, { error: message }, status);
const int = (v: string | null, fallback: number, max: number) => {
  const n = Number(v ?? '');
  return v !== null && Number.isInteger(n) && n >= 0 ? Math.min(n, max) : fallback;
};

/** A Host header naming this loopback server (refuses DNS-rebinding pages that reach it under another name). */
function hostAllowed(req: http.IncomingMessage, loopback: boolean): boolean {
  if (!loopback) return true;
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return LOOPBACK.has(host);
}

/** A raw file inside RUNS_DIR, always as text or bytes to download, with a CSP that runs nothing. */
function serveFile(res: http.ServerResponse, root: string, rest: string): void {
  const r = resolveInside(root, rest);
  if (!r.ok) return fail(res, r.reason === 'no such file' ? 404 : 403, `refused: ${r.reason}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(r.file);
  } catch {
    return fail(res, 404, 'no such file');
  }
  if (!st.isFile()) return fail(res, 403, 'refused: not a file');
  const text = /\.(jsonl?|md|txt|yaml|yml|csv|log)$/i.test(r.file);
  send(res, 200, text ? 'text/plain; charset=utf-8' : 'application/octet-stream', fs.readFileSync(r.file), {
    'content-security-policy': "default-src 'none'; sandbox",
    ...(text ? {} : { 'content-disposition': 'attachment' }),
  });
}

class Events {
  private readonly clients = new Set<http.ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private seen = new Map<string, string>();
  private runNames = '';

  constructor(private readonly store: RunStore, private readonly pollMs: number) {}

  open(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write(`event: runs\ndata: ${JSON.stringify(this.store.summaries())}\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.timer ??= setInterval(() => this.poll(), this.pollMs);
  }

  private broadcast(event: string, data: unknown): void {
    for (const c of this.clients) c.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Tells the pages which runs grew (by the size and time of their logs), and when runs appear or go. */
  private poll(): void {
    if (this.clients.size === 0) return;
    const runs = this.store.list();
    const names = runs.map((r) => r.name).join('\n');
    if (names !== this.runNames) {
      this.runNames = names;
      this.broadcast('runs', this.store.summaries());
    }
    for (const r of runs) {
      const stamp = [r.metrics.file, r.samples.file].map((f) => {
        try {
          const st = fs.statSync(f);
          return `${st.size}:${st.mtimeMs}`;
        } catch {
          return '-';
        }
      }).join('|');
      if (this.seen.get(r.name) === stamp) continue;
      const first = !this.seen.has(r.name);
      this.seen.set(r.name, stamp);
      if (!first) this.broadcast('update', r.summary());
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function route(req: http.IncomingMessage, res: http.ServerResponse, store: RunStore, assets: PageAssets, events: Events): void {
  const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
  const q = url.searchParams;
  const p = url.pathname;
  if (p === '/' || p === '/index.html') return send(res, 200, 'text/html; charset=utf-8', assets.html, { 'content-security-policy': PAGE_CSP });
  if (p === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', assets.js);
  if (p === '/app.css') return send(res, 200, 'text/css; charset=utf-8', assets.css);
  if (p === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
  if (p === '/api/runs') return json(res, store.summaries());
  if (p === '/api/events') return events.open(res);
  if (p.startsWith('/files/')) return serveFile(res, store.root, (req.url ?? '').split('?')[0].slice('/files/'.length));
  if (p === '/api/view' || p === '/api/feed') {
    const run = store.get(q.get('run') ?? '');
    if (!run) return fail(res, 404, 'no such run');
    if (p === '/api/view') return json(res, run.view(int(q.get('max'), 800, 5000)));
    return json(res, run.feed(parseFilter(q), int(q.get('offset'), 0, Number.MAX_SAFE_INTEGER), int(q.get('limit'), 20, 200)));
  }
  fail(res, 404, 'not found');
}

/** Starts the dashboard over `root`; resolves once it listens. */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  if (!fs.existsSync(o.root) || !fs.statSync(o.root).isDirectory()) throw new InputError(`${o.root}: no such folder (RUNS_DIR must be a folder of run folders, e.g. runs)`);
  const host = o.host ?? '127.0.0.1';
  const loopback = LOOPBACK.has(host) || host.startsWith('127.');
  const store = new RunStore(o.root);
  const assets = await pageAssets({ mode: 'live' });
  const events = new Events(store, o.pollMs ?? 1000);
  const server = http.createServer((req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'read-only: GET only');
      if (!hostAllowed(req, loopback)) return fail(res, 403, 'refused: unexpected Host header');
      route(req, res, store, assets, events);
    } catch (e) {
      if (!res.headersSent) fail(res, 500, (e as Error).message);
      else res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new InputError(`--port ${o.port}: address in use`) : e));
    server.listen(o.port ?? 8080, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        events.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
