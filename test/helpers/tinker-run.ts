/**
 * Remote runs for the tests: `selfplay serve --tinker` as a child process on a free loopback port, a proxy in front
 * of it that dies after a given number of optim_step calls (a service lost mid-run), and the largest difference
 * between two runs' metrics.jsonl (timings excluded).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';
import { startTinkerServer as startServer, type TinkerServerProcess } from '../../bench/remote.ts';
import { readJsonl } from '../../src/train/run-folder.ts';

const root = path.join(import.meta.dirname, '..', '..');

export type TinkerServer = TinkerServerProcess;

/** `selfplay serve --tinker --model models/default --state-dir <stateDir> --port 0 --threads 1`; resolves once it listens. */
export const startTinkerServer = (stateDir: string): Promise<TinkerServer> => startServer(path.join(root, 'models', 'default'), stateDir, 1);

/** The service of one test file, on `<dir>/state`: started in before(); killed, and `dir` removed, in after(). */
export interface FileTinkerService {
  readonly url: string;
  /** Kills the service (SIGKILL) and starts another on the same --state-dir (another port). */
  restart(): Promise<void>;
}

export function tinkerServiceForFile(dir: string): FileTinkerService {
  const stateDir = path.join(dir, 'state');
  let server: TinkerServer | null = null;
  before(async () => {
    server = await startTinkerServer(stateDir);
  });
  after(async () => {
    await server?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get url() {
      if (!server) throw new Error('the tinker service is not running');
      return server.url;
    },
    async restart() {
      await server?.kill();
      server = null;
      server = await startTinkerServer(stateDir);
    },
  };
}

export interface DyingProxy {
  url: string;
  /** Requests forwarded. */
  forwarded: number;
  close(): Promise<void>;
}

/**
 * Forwards every request to `target` until it has forwarded `optimSteps` optim_step calls and their futures were
 * answered; then it stops listening and drops every connection, as a service that died would.
 */
export async function dyingProxy(target: string, optimSteps: number): Promise<DyingProxy> {
  let steps = 0;
  let dead = false;
  const server = http.createServer();
  const p: DyingProxy = { url: '', forwarded: 0, close: async () => {} };
  const die = () => {
    if (dead) return;
    dead = true;
    server.close();
    server.closeAllConnections();
  };
  server.on('request', async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (dead) return void req.socket.destroy();
    if (req.url === '/api/v1/optim_step' && ++steps > optimSteps) return die();
    p.forwarded++;
    const r = await fetch(`${target}${req.url}`, { method: req.method, headers: { 'content-type': 'application/json' }, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await r.arrayBuffer());
    if (dead) return void req.socket.destroy();
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  p.close = async () => {
    die();
    await new Promise((r) => setTimeout(r, 0));
  };
  return p;
}

/** The largest |a - b| over the numeric values of two metrics.jsonl (timings excluded); other values must be equal. */
export function metricsMaxDiff(a: string, b: string, rows?: number): { max: number; at: string } {
  const ma = readJsonl(path.join(a, 'metrics.jsonl')).slice(0, rows);
  const mb = readJsonl(path.join(b, 'metrics.jsonl')).slice(0, rows);
  assert.equal(ma.length, mb.length, `metrics.jsonl: ${ma.length} vs ${mb.length} records`);
  assert.ok(ma.length > 0, `${path.join(a, 'metrics.jsonl')}: no records to compare`);
  let max = 0;
  let at = '(none)';
  ma.forEach((ra, i) => {
    const keys = new Set([...Object.keys(ra), ...Object.keys(mb[i])].filter((k) => !k.startsWith('time/') && k !== 'tokens_per_s'));
    for (const k of keys) {
      const x = ra[k];
      const y = mb[i][k];
      if (typeof x === 'number' && typeof y === 'number') {
        const d = Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y);
        if (!(d <= max)) [max, at] = [d, `iteration ${ra.iteration} ${k}: ${x} vs ${y}`];
      } else {
        assert.deepEqual(y, x, `iteration ${ra.iteration} ${k}`);
      }
    }
  });
  return { max, at };
}
