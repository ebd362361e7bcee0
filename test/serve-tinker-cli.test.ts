/**
 * `selfplay serve --tinker` as a user starts it: the help explains the flags; a non-loopback --host without
 * --api-key is refused in one line before any model loads; a loopback server on port 0 answers over HTTP with the
 * key from SELFPLAY_API_KEY, and stops on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { get, ok } from './helpers/tinker-http.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'bin', 'selfplay.js');
const model = tinyWorldModel(8);
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinker-cli-'));
const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('serve --help explains --tinker, --state-dir, --model-dir and --api-key', () => {
  const r = spawnSync(process.execPath, [bin, 'serve', '--help'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0);
  for (const flag of ['--tinker', '--state-dir', '--model-dir', '--api-key', '--max-models']) assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
});

test('a non-loopback --host without --api-key is refused in one line (the chat server: serve-tinker-security)', () => {
  const r = spawnSync(process.execPath, [bin, 'serve', '--tinker', '--model', model, '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', env: { ...process.env, SELFPLAY_API_KEY: '' }, timeout: 120_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--host 0\.0\.0\.0: not a loopback address.*--api-key/);
});

test('serve --tinker on port 0 answers with the key from SELFPLAY_API_KEY and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [bin, 'serve', '--tinker', '--model', model, '--port', '0', '--state-dir', stateDir, '--threads', '1', '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SELFPLAY_API_KEY: 'cli-key' },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line in 120 s: ${out} ${err}`)), 120_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /Tinker API at (http:\/\/[^ ]+)\/api\/v1/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  assert.equal((await get(url, 'healthz')).status, 401);
  const key = { 'x-api-key': 'cli-key' };
  assert.equal((await get(url, 'healthz', key)).status, 200);
  const { model_id } = await ok(url, 'create_model', { base_model: path.basename(model) }, key);
  assert.match(model_id, /^model_/);
  const exited = new Promise<number | null | 'hung'>((resolve) => {
    child.once('exit', resolve);
    setTimeout(() => resolve('hung'), 60_000).unref();
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `exit after SIGTERM: ${err}`);
  assert.match(out, /stopped on SIGTERM/);
});
