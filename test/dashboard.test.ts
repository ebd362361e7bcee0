import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { exportReport } from '../src/dashboard/report.ts';
import { resolveInside } from '../src/dashboard/safe-path.ts';
import { type Dashboard, startDashboard } from '../src/dashboard/server.ts';
import { JsonlTail } from '../src/dashboard/tail.ts';
import { downsample, type FeedPage, type RunSummary, type RunView } from '../src/dashboard/view-data.ts';

/** A fake run folder: `n` iterations, two queries each (one add, one invalid), G = 2. */
function writeRun(dir: string, n: number, extraQuery?: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ mode: 'lsp', model: 'models/default', iterations: n }));
  const metrics = Array.from({ length: n }, (_, i) => JSON.stringify({ iteration: i + 1, 'solver/reward/mean': i / n, 'kl/solver': 0.01 * i, 'time/solver': 1 }));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), metrics.map((l) => `${l}\n`).join(''));
  const samples = Array.from({ length: n }, (_, i) => [
    { iteration: i + 1, query: `What is ${i} plus 3?`, family: 'add', valid: true, challenger_reward: 0, answers: [{ answer: String(i + 3), reward: 1, self_score: 7, judge: 'Right.\n<Score>7</Score>' }, { answer: '0', reward: 0, self_score: 1, judge: '<Score>1</Score>' }] },
    { iteration: i + 1, query: extraQuery ?? 'blah blah', family: null, valid: false, challenger_reward: 0.5, answers: [{ answer: 'x', reward: 0 }, { answer: 'y', reward: 0 }] },
  ]).flat();
  fs.writeFileSync(path.join(dir, 'samples.jsonl'), samples.map((s) => `${JSON.stringify(s)}\n`).join(''));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-'));
const root = path.join(tmp, 'runs');
const secret = path.join(tmp, 'secret.txt');
let dash: Dashboard;

before(async () => {
  writeRun(path.join(root, 'a'), 30);
  writeRun(path.join(root, 'exp', 'lsp'), 4, '<img src=x onerror="alert(1)"></script><script>alert(2)</script>');
  fs.writeFileSync(secret, 'TOP SECRET');
  fs.symlinkSync(secret, path.join(root, 'a', 'link-out.txt'));
  fs.symlinkSync(tmp, path.join(root, 'dir-out'));
  fs.writeFileSync(path.join(root, 'exp', 'results.json'), JSON.stringify({ evals: [{ name: 'lsp', vsBase: { overall: { subset: 'overall', n: 60, winRate: 0.55, winRateCI: { lo: 0.45, hi: 0.65 } }, subsets: [] } }] }));
  dash = await startDashboard({ root, port: 0, pollMs: 100 });
});
after(async () => {
  await dash?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A raw GET: the path is sent exactly as written (no client-side normalisation of `..`). */
function get(rawPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(dash.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${rawPath} timed out`)));
    req.end();
  });
}

test('dashboard: path traversal, encoded traversal and symlinks out of RUNS_DIR are refused; files inside are served as text', async () => {
  const attempts = [
    '/files/../secret.txt', '/files/a/../../secret.txt', '/files/%2e%2e/secret.txt', '/files/a/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/files/..%2fsecret.txt', '/files/%252e%252e/secret.txt', '/files/a/link-out.txt', '/files/dir-out/secret.txt',
    '/files/a%5c..%5c..%5csecret.txt', '/files/a/metrics.jsonl%00.txt', `/files/${encodeURIComponent(secret)}`, '/files//etc/passwd',
  ];
  for (const p of attempts) {
    const r = await get(p);
    assert.ok(r.status === 403 || r.status === 404, `${p} answered ${r.status}`);
    assert.doesNotMatch(r.body, /TOP SECRET|root:/, `${p} leaked the file`);
  }
  const ok = await get('/files/a/metrics.jsonl');
  assert.equal(ok.status, 200);
  assert.match(ok.headers['content-type']!, /^text\/plain/);
  assert.match(String(ok.headers['content-security-policy']), /sandbox/);
  assert.match(ok.body, /"iteration":30/);
  // the pure check agrees, independent of the HTTP layer
  assert.deepEqual(resolveInside(root, 'a/link-out.txt'), { ok: false, reason: 'outside the runs folder' });
  assert.equal(resolveInside(root, '%2e%2e/secret.txt').ok, false);
  assert.equal(resolveInside(root, 'a/metrics.jsonl').ok, true);
});

test('dashboard: read-only and loopback-only (other methods, foreign Host headers and unknown runs are refused)', async () => {
  assert.equal((await get('/api/runs', {}, 'POST')).status, 405);
  assert.equal((await get('/api/runs', { host: 'evil.example:80' })).status, 403);
  assert.equal((await get('/api/view?run=../a')).status, 404);
  assert.equal((await get('/api/view?run=dir-out')).status, 404, 'a symlinked folder is not a run');
  const page = await get('/');
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
});

test('dashboard: runs are listed (nested experiment arms too); views downsample curves and carry win rates', async () => {
  const runs = JSON.parse((await get('/api/runs')).body) as RunSummary[];
  assert.deepEqual(runs.map((r) => [r.name, r.done]), [['a', 30], ['exp/lsp', 4]]);
  const view = JSON.parse((await get('/api/view?run=a&max=10')).body) as RunView;
  assert.equal(view.series.total, 30);
  assert.equal(view.series.iterations.length, 10);
  assert.equal(view.series.iterations.at(-1), 30, 'the last iteration is kept');
  const arm = JSON.parse((await get('/api/view?run=exp%2Flsp')).body) as RunView;
  assert.deepEqual(arm.results.map((t) => t.rows.map((r) => [r.subset, r.winRate, r.lo, r.hi])), [[['overall', 0.55, 0.45, 0.65]]]);
});

test('dashboard: the feed is paged newest first and filtered by family, validity and reward', async () => {
  const page = (q: string) => get(`/api/feed?run=a&${q}`).then((r) => JSON.parse(r.body) as FeedPage);
  const first = await page('limit=3');
  assert.equal(first.total, 60);
  assert.deepEqual(first.items.map((i) => i.iteration), [30, 30, 29]);
  assert.equal((await page('valid=invalid')).total, 30);
  assert.equal((await page('family=add&reward=mixed')).total, 30);
  assert.equal((await page('reward=failed')).total, 30);
  assert.equal((await page('reward=solved')).total, 0);
  const one = await page('iteration=7&family=add');
  assert.equal(one.total, 1);
  assert.equal(one.items[0].answers[0].judge, 'Right.\n<Score>7</Score>');
  assert.equal(one.items[0].difficulty !== null, true, 'the world classifies the query');
  assert.equal((await page('offset=58&limit=20')).items.length, 2);
  const invalid = (await page('valid=invalid&limit=1')).items[0];
  assert.equal(typeof invalid.invalidReason, 'string', 'an invalid query says why');
  assert.equal(one.items[0].invalidReason, null);
});

test('dashboard: downsample averages equal buckets (checked against a naive loop)', () => {
  const xs = Array.from({ length: 101 }, (_, i) => i + 1);
  const ys = xs.map((x) => (x % 7 === 0 ? NaN : x * x));
  const s = downsample(xs, { y: ys }, 11);
  assert.equal(s.iterations.length, 11);
  for (let b = 0; b < 10; b++) {
    const part = ys.slice(b * 10, b * 10 + 10).filter(Number.isFinite);
    const want = part.reduce((a, v) => a + v, 0) / part.length;
    assert.ok(Math.abs(s.values.y[b] - want) < 1e-9, `bucket ${b}: ${s.values.y[b]} vs ${want}`);
    assert.equal(s.iterations[b], (b + 1) * 10);
  }
  assert.deepEqual([s.iterations[10], s.values.y[10]], [101, 101 * 101]);
  assert.equal(downsample(xs, { y: ys }, 500).iterations.length, 101, 'short runs are drawn whole');
});

test('dashboard: tailing reads only appended lines, waits for a torn line, starts over when the file is replaced', () => {
  const file = path.join(tmp, 'tail.jsonl');
  fs.writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":');
  const t = new JsonlTail(file);
  assert.equal(t.refresh(), true);
  assert.deepEqual(t.records.map((r) => r.value.a), [1, 2]);
  assert.equal(t.refresh(), false);
  fs.appendFileSync(file, '3}\n');
  t.refresh();
  assert.deepEqual(t.records.map((r) => r.value.a), [1, 2, 3]);
  assert.deepEqual(t.readRows([t.records[2]]), [{ a: 3 }]);
  fs.writeFileSync(`${file}.new`, '{"a":9}\n');
  fs.renameSync(`${file}.new`, file);
  t.refresh();
  assert.deepEqual(t.records.map((r) => r.value.a), [9]);
});

test('dashboard: server-sent events announce a run that grows', async () => {
  const u = new URL(dash.url);
  const events: string[] = [];
  const req = http.get({ host: u.hostname, port: u.port, path: '/api/events' });
  const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
  res.setEncoding('utf8');
  res.on('data', (c: string) => events.push(c));
  try {
    await new Promise((r) => setTimeout(r, 300));
    fs.appendFileSync(path.join(root, 'a', 'metrics.jsonl'), `${JSON.stringify({ iteration: 31, 'solver/reward/mean': 1 })}\n`);
    const deadline = Date.now() + 10_000;
    while (!events.join('').includes('event: update') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const text = events.join('');
    assert.match(text, /^event: runs\n/);
    assert.match(text, /event: update\ndata: \{"name":"a",[^\n]*"done":31/);
  } finally {
    req.destroy();
  }
});

test('dashboard --export: one self-contained file; sample text stays inert JSON, never markup', async () => {
  const file = path.join(tmp, 'report.html');
  const r = await exportReport(root, 'exp/lsp', file);
  assert.equal(r.queries, 8);
  const html = fs.readFileSync(file, 'utf8');
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/, 'nothing is loaded from elsewhere');
  assert.doesNotMatch(html, /<img src=x|<\/script><script>alert/, 'the sample text is not in the page as markup');
  assert.match(html, /\\u003cimg src=x onerror=/, 'it is embedded as escaped JSON');
  const json = /<script type="application\/json" id="selfplay-report">([^<]*)<\/script>/.exec(html)![1];
  const data = JSON.parse(json) as { view: RunView; feed: { query: string }[] };
  assert.equal(data.feed.length, 8);
  assert.match(data.feed[1].query, /^<img src=x onerror/);
  await assert.rejects(exportReport(root, undefined, file), /which run\? add --run with one of: a, exp\/lsp/);
  await assert.rejects(exportReport(root, 'nope', file), /--run nope: no such run/);
});
