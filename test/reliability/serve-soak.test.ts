/**
 * `selfplay serve` as a child process on models/default, tried as a hostile but fair user would:
 * 1. the hostile-request set: 50+ malformed requests, each answered with a 4xx whose message names the field
 *    (never a 5xx, never a crash), and the server still answers a good request after them;
 * 2. the soak: SELFPLAY_SOAK_REQUESTS (default 5,000) mixed requests on loopback at concurrency 8; the resident
 *    memory (VmRSS of the child) after all of them stays within 1.5x of its value after the first tenth (500);
 * 3. SIGTERM with requests in flight ends the process within 2 s, exit code 0.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hostileRequests, type Hostile } from './hostile-requests.ts';

const root = path.join(import.meta.dirname, '..', '..');
const TOTAL = Number(process.env.SELFPLAY_SOAK_REQUESTS ?? 5000);
const FIRST = Math.round(TOTAL / 10);
const CONCURRENCY = 8;

let child: ChildProcess;
let exited: Promise<{ code: number | null; signal: string | null; at: number }>;
let url: URL;
let stderr = '';

before(async () => {
  child = spawn(process.execPath, [path.join(root, 'bin', 'selfplay.js'), 'serve', '--model', path.join(root, 'models', 'default'), '--port', '0', '--threads', '2', '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (d) => (stderr += d));
  exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, at: Date.now() })));
  let stdout = '';
  url = new URL(
    await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        stdout += d;
        const m = /at (http:\/\/\S+)/.exec(stdout);
        if (m) resolve(`${m[1]}/`);
      });
      void exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
    }),
  );
});

after(async () => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
});

/** Resident memory of the child in MB, from /proc. */
function rssMB(): number {
  const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

interface Reply {
  status: number;
  text: string;
}

/** One raw request (node:http: the body may be refused mid-upload and the reply still read); 300 s at most. */
function send(method: string, pathname: string, headers: Record<string, string | number>, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: new URL(pathname, url).pathname, method, headers, timeout: 300_000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname}: no answer in 300 s`)));
    // a refused upload may end in EPIPE/ECONNRESET after the reply came; without a reply within 2 s it is a failure
    req.on('error', (e) => setTimeout(() => reject(e), 2000).unref());
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };

test('hostile requests: each gets a 4xx naming the field, none a 5xx, and the server keeps serving', async () => {
  const cases: Hostile[] = hostileRequests();
  assert.ok(cases.length >= 40, `${cases.length} cases`);
  const failures: string[] = [];
  for (const h of cases) {
    const r = await send(h.method ?? 'POST', h.path ?? 'chat/completions', h.headers ?? JSON_TYPE, h.body);
    let message = '';
    try {
      message = JSON.parse(r.text).error.message;
    } catch {
      failures.push(`${h.name}: HTTP ${r.status}, not an OpenAI error body: ${r.text.slice(0, 200)}`);
      continue;
    }
    if (r.status !== h.status || !h.names.test(message)) failures.push(`${h.name}: HTTP ${r.status} ${message.slice(0, 300)}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} hostile requests answered wrongly`);
  console.log(`# hostile requests: ${cases.length}, every one a 4xx naming the field`);
  const ok = await send('POST', 'chat/completions', JSON_TYPE, JSON.stringify({ messages: [{ role: 'user', content: 'Add 1 and 2.' }], max_tokens: 4 }));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(child.exitCode, null, 'still running');
});

const QUESTIONS = ['Reverse the word apple.', 'Add 12 and 30.', 'Sort the letters of dcba.', 'Count the letters in banana.', 'Repeat the word ok three times.'];

/**
 * Budgets from tiny to most of the context: the cache length S of a batch follows the budget (not what is
 * generated: the default model's greedy answers end early), so batches span every cache-length bucket and many
 * batch sizes. This is what grew the resident memory when every compiled shape kept its own memory arena.
 */
const BUDGETS = [2, 8, 24, 100, 300, 600, 900];

/** Request k of the soak: prompt length, budget, n, temperature, seed, stop and streaming all vary in short cycles. */
function soakBody(k: number): string {
  return JSON.stringify({
    messages: [
      ...(k % 11 === 0 ? [{ role: 'system', content: 'Answer briefly.' }] : []),
      { role: 'user', content: `${QUESTIONS[k % QUESTIONS.length]} ${'and again '.repeat(k % 13)}` },
    ],
    max_tokens: BUDGETS[k % BUDGETS.length],
    n: 1 + (k % 4),
    temperature: BUDGETS[k % BUDGETS.length] > 100 ? 0 : (k % 3) * 0.4, // greedy answers end early: long budgets stay cheap
    ...(k % 10 === 3 ? { seed: k } : {}),
    ...(k % 9 === 4 ? { stop: ['.', 'x'] } : {}),
    ...(k % 7 === 5 ? { stream: true } : {}),
  });
}

test(`soak: ${TOTAL} requests; RSS after all of them within 1.5x of RSS after the first ${FIRST}; SIGTERM ends it within 2 s`, async () => {
  let next = 0;
  let done = 0;
  const bad: string[] = [];
  const rssAt = new Map<number, number>([[0, rssMB()]]);
  const started = Date.now();
  const worker = async () => {
    while (next < TOTAL) {
      const k = next++;
      const r = await send('POST', 'chat/completions', JSON_TYPE, soakBody(k));
      if (r.status !== 200 && bad.length < 10) bad.push(`request ${k}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      done++;
      if (done % FIRST === 0) rssAt.set(done, rssMB());
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (Date.now() - started) / 1000;
  assert.deepEqual(bad, []);
  const first = rssAt.get(FIRST)!;
  const last = rssAt.get(TOTAL)!;
  console.log(`# soak: ${TOTAL} requests in ${seconds.toFixed(0)} s; RSS MB by requests done: ${[...rssAt].map(([n, mb]) => `${n}: ${mb.toFixed(0)}`).join(', ')}`);
  assert.ok(last <= 1.5 * first, `RSS ${last.toFixed(0)} MB after ${TOTAL} requests > 1.5 x ${first.toFixed(0)} MB after ${FIRST}`);

  // SIGTERM with requests in flight
  const inFlight = Array.from({ length: 8 }, (_, i) => send('POST', 'chat/completions', JSON_TYPE, soakBody(i)).catch((e: Error) => ({ status: 0, text: e.message })));
  await new Promise((r) => setTimeout(r, 50));
  const killedAt = Date.now();
  child.kill('SIGTERM');
  const replies = await Promise.all(inFlight);
  const exit = await exited;
  const ms = exit.at - killedAt;
  console.log(`# SIGTERM to exit: ${ms} ms; in-flight replies ${replies.map((r) => r.status).join(' ')}`);
  assert.equal(exit.code, 0, stderr);
  assert.ok(ms < 2000, `exited ${ms} ms after SIGTERM`);
  assert.ok(replies.every((r) => r.status === 200 || r.status === 503), replies.map((r) => `${r.status} ${r.text.slice(0, 100)}`).join('\n'));
});
