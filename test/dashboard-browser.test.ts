/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) over a real `selfplay train`:
 * the page is opened while the run trains, its curves gain points without a reload, a query renders with its
 * answers and the judge's text, text from a run folder stays text, and traversal URLs are refused.
 * Skips (saying why) where /usr/bin/chromium is missing; .ci/run installs it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-browser-'));
const runs = path.join(tmp, 'runs');
let browser: BrowserContext | undefined;
let dashboard: ChildProcess | undefined;
let trainer: ChildProcess | undefined;

after(async () => {
  await browser?.close().catch(() => {});
  for (const child of [dashboard, trainer]) if (child && child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

const selfplay = (args: string[]) => spawn(process.execPath, [path.join(repo, 'bin', 'selfplay.js'), ...args], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });

/** Starts `selfplay dashboard RUNS --port 0` and returns the URL it prints. */
async function startDashboardCli(root: string): Promise<string> {
  dashboard = selfplay(['dashboard', root, '--port', '0']);
  let err = '';
  dashboard.stderr!.on('data', (c) => (err += c));
  return until('the dashboard URL', () => /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(err)?.[1] ?? '', 60_000);
}

/** Polls `f` until it returns a truthy value, or fails naming `what`. */
async function until<T>(what: string, f: () => Promise<T> | T, ms = 240_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (trainer?.exitCode && trainer.exitCode !== 0) throw new Error(`selfplay train failed (exit ${trainer.exitCode}) while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const points = (page: Page, chart: string) => page.locator(`[data-chart="${chart}"]`).first().getAttribute('data-points').then((v) => Number(v ?? 0)).catch(() => 0);

/** A finished fake run whose texts are markup and script, to check they render as text. */
function writeHostileRun(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ mode: 'lsp', model: '<b>bold</b>', iterations: 1 }));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), `${JSON.stringify({ iteration: 1, 'solver/reward/mean': 0.5, guards: [{ guard: 'kl', message: '<img src=x onerror="window.__pwned=3">' }] })}\n`);
  const answers = [{ answer: '<script>window.__pwned=1</script>', reward: 0, self_score: 0, judge: '<img src=x onerror="window.__pwned=2"><Score>0</Score>' }];
  fs.writeFileSync(path.join(dir, 'samples.jsonl'), `${JSON.stringify({ iteration: 1, query: '<img src=x onerror="window.__pwned=4">', valid: false, answers })}\n`);
}

test('dashboard in chromium: a live selfplay train run, its game feed, hostile text, traversal URLs and the exported report', { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does this)` }, async () => {
  writeHostileRun(path.join(runs, 'hostile'));
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'TOP SECRET');
  const out = path.join(runs, 'live');
  const args = ['train', '--model', 'models/default', '--iterations', '3', '--N', '2', '--G', '2', '--challenger-max-tokens', '32', '--solver-max-tokens', '16', '--out', out, '--quiet', '--threads', '1'];
  const url = await startDashboardCli(runs);
  browser = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}#run=live`);
  await page.evaluate(() => ((window as unknown as { __sameDocument: number }).__sameDocument = 1));
  await until('the page to connect', () => page.locator('.status.live').isVisible(), 30_000);
  // the run starts while the page is open: it appears, and its curves grow, by server-sent events alone
  trainer = selfplay(args);
  let log = '';
  trainer.stderr!.on('data', (c) => (log += c));

  await until('the new run in the run list', () => page.locator('.runs .run-name', { hasText: /^live$/ }).isVisible());
  // live: the curve appears with the first iteration and grows to 3 with no reload
  const chart = 'Reward per role';
  const first = await until('the first point of the live curve', () => points(page, chart));
  assert.ok(first < 3, `the page should open while the run trains, but it first saw ${first} points (train log: ${log})`);
  await until(`the curve to grow past ${first} points`, async () => (await points(page, chart)) > first);
  await until('3 points', async () => (await points(page, chart)) === 3);
  assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: number }).__sameDocument), 1, 'the page was not reloaded');

  // a query with its G answers and the judge's text
  const query = page.locator('article.query').first();
  await until('a query in the feed', () => query.isVisible());
  assert.equal(await query.locator('tbody tr.answer').count(), 2, 'G = 2 answers under the query');
  const judge = await query.locator('pre.judge').first().textContent();
  assert.match(judge ?? '', /<Score>\d<\/Score>/, `the judge's text: ${judge}`);
  await query.locator('details summary').first().click();
  assert.ok(await query.locator('pre.judge').first().isVisible(), 'the judge text opens');

  // hostile text from a run folder renders as text and runs nothing
  await page.goto(`${url}#run=hostile`);
  await page.reload();
  await until('the hostile run', () => page.locator('[data-run="hostile"] article.query').first().isVisible(), 30_000);
  const shown = await page.locator('[data-run="hostile"]').textContent();
  assert.match(shown ?? '', /<img src=x onerror="window.__pwned=4">/);
  assert.match(shown ?? '', /<script>window.__pwned=1<\/script>/);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'no text from a file ran');
  assert.equal(await page.locator('main img').count(), 0, 'no element was made from the text');
  const banner = await page.locator('[data-run="hostile"] .guards.tripped').textContent();
  assert.match(banner ?? '', /kl iteration 1: <img src=x/, 'the tripped guard is shown, its message as text');

  // traversal from the browser: encoded separators survive the URL parser and reach the server
  for (const p of ['files/live/..%2f..%2fsecret.txt', 'files/..%2f..%2f..%2f..%2fetc%2fpasswd', 'files/%2e%2e%2fsecret.txt']) {
    const r = await page.goto(`${url}${p}`);
    assert.equal(r?.status(), 403, `${p}: ${r?.status()}`);
    assert.doesNotMatch(await page.content(), /TOP SECRET|root:x/);
  }
  const ok = await page.goto(`${url}files/live/config.json`);
  assert.equal(ok?.status(), 200);
  assert.deepEqual(errors, [], 'no script errors on the page');
  await until('selfplay train to finish', () => trainer!.exitCode !== null);
  assert.equal(trainer.exitCode, 0, log);

  // the exported report of the finished run opens from disk: curves and the feed, no server
  const report = path.join(tmp, 'report.html');
  const exporter = selfplay(['dashboard', runs, '--export', report, '--run', 'live']);
  await until('the export', () => exporter.exitCode !== null, 60_000);
  assert.equal(exporter.exitCode, 0);
  await page.goto(`file://${report}`);
  await until('the report curve', async () => (await points(page, chart)) === 3, 30_000);
  assert.equal(await page.locator('article.query').count(), 6, 'the whole feed: N=2 queries x 3 iterations');
  assert.match((await page.locator('pre.judge').first().textContent()) ?? '', /<Score>\d<\/Score>/);
});
