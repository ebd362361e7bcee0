/**
 * A scripted HTTP server for the Tinker client's fault tests: each path answers with what its handler returns
 * (a status, a JSON body or raw text, a delay, or a dropped connection), and every request is recorded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeReply {
  status?: number;
  body?: unknown;
  /** Sent as is instead of `body` (malformed JSON). */
  raw?: string;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Drop the connection without an answer (a reset). */
  destroy?: boolean;
}

export interface FakeCall {
  method: string;
  path: string;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

/** A handler gets the parsed body and how many times its path was called before (0 the first time). */
export type FakeHandler = (body: unknown, n: number) => FakeReply | Promise<FakeReply>;

export class FakeTinker {
  readonly calls: FakeCall[] = [];
  private readonly routes = new Map<string, FakeHandler>();
  private readonly counts = new Map<string, number>();
  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<FakeTinker> {
    const server = http.createServer();
    const fake = new FakeTinker(server);
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  on(path: string, handler: FakeHandler): this {
    this.routes.set(path, handler);
    return this;
  }

  /** Calls made to `path`. */
  count(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const path = (req.url ?? '').split('?')[0];
    this.calls.push({ method: req.method ?? '', path, body, headers: req.headers });
    const n = this.counts.get(path) ?? 0;
    this.counts.set(path, n + 1);
    const handler = this.routes.get(path);
    const reply: FakeReply = handler ? await handler(body, n) : { status: 404, body: { detail: `no route ${path}` } };
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (reply.destroy) {
      req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.raw ?? JSON.stringify(reply.body ?? {}));
  }
}
