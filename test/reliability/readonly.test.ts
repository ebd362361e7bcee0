/**
 * Read-only folders, as a user who cannot write them (root ignores permissions, so under root the commands run as
 * `nobody`): every refusal is one line naming the path, before any compute; a read-only model folder is only read.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { defaultModel, run, tmp, TINY } from './run-cli.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const uid = asRoot ? NOBODY : undefined;

/** A folder the test user cannot write (owned by root and 0755 under root; 0555 otherwise). */
function readOnlyFolder(name: string): string {
  const dir = tmp(name);
  fs.chmodSync(dir, asRoot ? 0o755 : 0o555);
  return dir;
}

/** A folder the test user owns. */
function ownFolder(name: string): string {
  const dir = tmp(name);
  if (asRoot) fs.chownSync(dir, NOBODY, NOBODY);
  return dir;
}

function assertRefused(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(r.stderr, /^lsp on |pretraining into/m, 'refused before the run started');
}

const train = ['train', '--model', defaultModel, ...TINY, '--iterations', '1'];

test('read-only folders: new runs, resumes and checkpoints/ are refused with one line before compute', async (t) => {
  if (process.platform === 'win32') return t.skip('no POSIX permissions');
  if (asRoot) {
    const probe = await run(['--help'], { uid });
    if (probe.code !== 0) return t.skip(`cannot run as uid ${NOBODY}: ${probe.stderr.split('\n')[0]}`);
  }
  const ro = readOnlyFolder('ro');
  assertRefused(await run([...train, '--out', path.join(ro, 'run')], { uid }), /ro-\w+\/run: cannot mkdir \(EACCES\): permission denied/);
  assertRefused(await run(['pretrain', '--out', path.join(ro, 'pre'), '--steps', '1'], { uid }), /pre: cannot mkdir \(EACCES\)/);
  assertRefused(await run(['eval', '--model', defaultModel, '--baseline', defaultModel, '--set', 'world', '--limit', '1', '--out', path.join(ro, 'ev')], { uid }), /ev: cannot mkdir \(EACCES\)/);
  if (!asRoot) return; // the rest needs folders owned by someone else
  // a run folder the user cannot write: --resume is refused before the models load
  const theirs = path.join(tmp('theirs'), 'run');
  const made = await run([...train, '--out', theirs]);
  assert.equal(made.code, 0, made.stderr);
  fs.chmodSync(path.dirname(theirs), 0o755);
  const before = fs.readFileSync(path.join(theirs, 'config.json'), 'utf8');
  assertRefused(await run(['train', '--resume', theirs, '--iterations', '2'], { uid }), /run: cannot write files in \(EACCES\)/);
  assert.equal(fs.readFileSync(path.join(theirs, 'config.json'), 'utf8'), before);
  // the user's own run folder whose checkpoints/ is not theirs
  const mine = path.join(ownFolder('mine'), 'run');
  fs.cpSync(theirs, mine, { recursive: true });
  fs.chownSync(mine, NOBODY, NOBODY);
  for (const f of ['config.json', 'metrics.jsonl', 'samples.jsonl', 'selfplay-run.json']) fs.chownSync(path.join(mine, f), NOBODY, NOBODY);
  assertRefused(await run(['train', '--resume', mine, '--iterations', '2'], { uid }), /run\/checkpoints: cannot write files in \(EACCES\)/);
});

test('a read-only model folder is only read: a run as another user trains from it', async (t) => {
  if (!asRoot) return t.skip('needs root to own the model folder while another user runs');
  const out = path.join(ownFolder('reader'), 'run');
  const r = await run([...train, '--out', out], { uid });
  if (r.code !== 0 && /EACCES/.test(r.stderr) && /models/.test(r.stderr)) return t.skip(`models/default is not readable by uid ${NOBODY}`);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, 'model', 'model.safetensors')));
});
