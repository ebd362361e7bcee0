/**
 * Nothing a user owns is lost, and no failure is reported as success: run folders are claimed before any write
 * (a marker file; foreign folders and folders the command reads are refused), file-system errors are one line
 * naming the path, a resume falls back past a damaged checkpoint and rewrites nothing before it has chosen one, and
 * runs without an applied update, resumes behind the run, over-long logprobs inputs and unreachable judges fail
 * with a clear line and a non-zero exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileSystemError, InputError } from '../src/errors.ts';
import type { RewardSource } from '../src/game/rollout.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { runSettings } from '../src/train/settings.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { claimRunFolder, JsonlLog, readJsonl, RUN_MARKER } from '../src/train/run-folder.ts';
import { describeFsError, writeFileAtomic } from '../src/util/fs.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const root = path.join(import.meta.dirname, '..');
const fixture = path.join(root, 'test', 'fixtures', 'llama-gqa');
const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `safety-${name}-`));
const model = tinyWorldModel();

function selfplay(args: string[], opts: { uid?: number } = {}) {
  const id = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid };
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8', timeout: 120_000, ...id });
  return { code: r.status, stderr: r.stderr };
}

function assertOneLine(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** Every file under `dir` with its bytes, to show nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name))] = fs.readFileSync(path.join(e.parentPath, e.name), 'base64');
  }
  return out;
}

const lengthReward: RewardSource = { name: 'length', score: async (_q, a) => a.map((g) => g.map((x) => (x.length % 5) / 4)) };

function settings(out: string, iterations: number, extra: Record<string, unknown> = {}) {
  const c = resolveConfig(
    { model, out, iterations, N: 2, G: 2, lr: 1e-2, checkpointEvery: 1, quiet: true, seed: 5, mode: 'lsp-zero', ...extra },
    { sampling: { challenger: { maxTokens: 6 }, solver: { maxTokens: 6 } } },
  );
  return { ...runSettings(c, new Runtime({ threads: 1 }), 1), reward: lengthReward, savedConfig: c };
}

test('train --out refuses a folder with files selfplay did not write, and --out inside --model, changing nothing', () => {
  const u = tmp('user');
  fs.mkdirSync(path.join(u, 'model'));
  fs.writeFileSync(path.join(u, 'model', 'w.bin'), 'x');
  fs.writeFileSync(path.join(u, 'config.json'), '{}');
  const before = snapshot(u);
  assertOneLine(selfplay(['train', '--model', model, '--iterations', '1', '--N', '2', '--G', '2', '--out', u]), /holds files selfplay did not write \(no selfplay-run\.json\); nothing was changed/);
  assert.deepEqual(snapshot(u), before);
  const m = snapshot(model);
  assertOneLine(selfplay(['train', '--model', model, '--out', model]), /a command never writes into a folder it reads/);
  assertOneLine(selfplay(['pretrain', '--init', model, '--out', path.join(model, 'run')]), /is inside --init .*never writes into a folder it reads/);
  assertOneLine(selfplay(['eval', '--model', model, '--baseline', model, '--set', 'world', '--out', u]), /--out .*holds files selfplay did not write/);
  assertOneLine(selfplay(['eval', '--accuracy', '--model', model, '--out', u]), /--out .*holds files selfplay did not write/);
  assertOneLine(selfplay(['eval', '--accuracy', '--model', model, '--out', path.join(model, 'acc')]), /is inside --model .*never writes into a folder it reads/);
  assertOneLine(selfplay(['export', '--model', model, '--gguf', path.join(model, 'model.safetensors')]), /model\.safetensors: the file exists and is not a \.gguf file; nothing was written/);
  assert.deepEqual(snapshot(model), m, 'the model folder is untouched');
  assert.deepEqual(snapshot(u), before);
});

test('run folders: new, empty or marked; a run of another kind or a newer format is refused; older runs are recognised', () => {
  const claim = (dir: string, intent: 'new' | 'resume' | 'either', kind: 'train' | 'pretrain' = 'train') => claimRunFolder(dir, { kind, intent, flag: '--out' });
  assert.deepEqual(claim(path.join(tmp('n'), 'new'), 'new'), { continuing: false });
  assert.deepEqual(claim(tmp('empty'), 'new'), { continuing: false });
  const marked = tmp('marked');
  fs.writeFileSync(path.join(marked, RUN_MARKER), JSON.stringify({ version: 1, kind: 'train' }));
  assert.deepEqual(claim(marked, 'resume'), { continuing: true });
  assert.deepEqual(claim(marked, 'new'), { continuing: false }, 'stopped before its first checkpoint: nothing to lose, start again');
  fs.mkdirSync(path.join(marked, 'checkpoints', 'iter-000001'), { recursive: true });
  assert.throws(() => claim(marked, 'new'), /already holds a train run; continue it with --resume/);
  assert.throws(() => claim(marked, 'resume', 'pretrain'), /holds a selfplay train run, not a pretrain run/);
  fs.writeFileSync(path.join(marked, RUN_MARKER), JSON.stringify({ version: 99, kind: 'train' }));
  assert.throws(() => claim(marked, 'resume'), /run format version 99 is newer/);
  // a train run made before the marker: config.json + metrics.jsonl + checkpoints/
  const legacy = tmp('legacy');
  for (const f of ['config.json', 'metrics.jsonl']) fs.writeFileSync(path.join(legacy, f), '{}');
  fs.mkdirSync(path.join(legacy, 'checkpoints'));
  assert.deepEqual(claim(legacy, 'resume'), { continuing: true });
  assert.throws(() => claim(path.join(tmp('x'), 'none'), 'resume'), (e: Error) => e instanceof InputError && /no train run there/.test(e.message));
});

test('file-system errors are one line naming the path and what to do (EACCES, ENOSPC, EROFS, ENOENT, EISDIR, ENOTDIR)', () => {
  const err = (code: string, p: string, syscall = 'open') => Object.assign(new Error(`${code}: x`), { code, path: p, syscall }) as NodeJS.ErrnoException;
  assert.equal(describeFsError(err('EACCES', '/r/metrics.jsonl.tmp-12-ab34cd')), '/r/metrics.jsonl: cannot open (EACCES): permission denied; choose a folder you can write to, or fix its permissions');
  assert.match(describeFsError(err('ENOSPC', '/r/x', 'write')), /^\/r\/x: cannot write \(ENOSPC\): no space left on the device; free some space/);
  assert.match(describeFsError(err('EROFS', '/r/x', 'mkdir')), /read-only; choose a folder on a writable disk/);
  assert.match(describeFsError(err('ENOENT', '/r/x')), /no such file or folder/);
  assert.match(describeFsError(err('EISDIR', '/r/x')), /is a folder where a file was expected/);
  const file = path.join(tmp('notdir'), 'f');
  fs.writeFileSync(file, 'x');
  assert.throws(() => writeFileAtomic(path.join(file, 'a.json'), '{}'), (e: Error) => e instanceof FileSystemError && /\/f: cannot mkdir \(EEXIST\): a file is in the way/.test(e.message));
  assert.throws(() => new JsonlLog(path.join(file, 'm.jsonl')).append({}), (e: Error) => e instanceof FileSystemError && /f\/m\.jsonl: cannot open \(ENOTDIR\): a part of this path is a file/.test(e.message));
  if (fs.existsSync('/dev/full')) {
    // a log on a full disk: appends fail with ENOSPC, named by the log's path
    const log = new JsonlLog(path.join(tmp('full'), 'metrics.jsonl'));
    fs.symlinkSync('/dev/full', log.file);
    assert.throws(() => log.append({ iteration: 1 }), (e: Error) => e instanceof FileSystemError && /metrics\.jsonl: cannot write \(ENOSPC\)/.test(e.message));
  }
});

test('read-only folders (as a non-root user): the run folder and its checkpoints/ are probed before any compute', (t) => {
  const uid = process.getuid?.() === 0 ? 65534 : undefined; // root ignores permissions: run as nobody
  if (process.platform === 'win32') return t.skip('no POSIX permissions');
  if (uid !== undefined) {
    // the checkout itself may sit under a folder nobody cannot enter (e.g. a 0700 mktemp -d): then there is nothing to test
    const probe = selfplay(['--help'], { uid });
    if (probe.code !== 0) return t.skip(`cannot run selfplay as uid ${uid} from this checkout: ${probe.stderr.split('\n').find((l) => l.startsWith('Error')) ?? probe.stderr.split('\n')[0]}`);
  }
  const ro = tmp('ro');
  fs.chmodSync(ro, 0o755);
  fs.chmodSync(path.dirname(model), 0o755);
  if (uid === undefined) fs.chmodSync(ro, 0o555);
  const args = ['train', '--model', model, '--iterations', '1', '--N', '2', '--G', '2'];
  assertOneLine(selfplay([...args, '--out', path.join(ro, 'run')], { uid }), /run: cannot mkdir \(EACCES\): permission denied/);
  if (uid === undefined) return;
  // a writable run folder whose checkpoints/ is not: refused at start, not after an iteration of compute
  const run = path.join(ro, 'mine');
  fs.mkdirSync(path.join(run, 'checkpoints'), { recursive: true });
  fs.writeFileSync(path.join(run, RUN_MARKER), JSON.stringify({ version: 1, kind: 'train' }));
  fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify({ model, iterations: 1, N: 2, G: 2 }));
  fs.chownSync(run, uid, uid);
  const r = selfplay(['train', '--resume', run], { uid });
  assertOneLine(r, /mine\/checkpoints: cannot write files in \(EACCES\)/);
  assert.doesNotMatch(r.stderr, /lsp on/, 'refused before the run started');
});

test('resume: a damaged newest checkpoint is skipped; the result equals the uninterrupted run; config.json waits for the choice', async () => {
  const straight = tmp('straight');
  await train(settings(straight, 4));
  const b = tmp('resumed');
  await train(settings(b, 3));
  const weights = path.join(b, 'checkpoints', 'iter-000003', 'model.safetensors');
  const bytes = fs.readFileSync(weights);
  bytes[bytes.length - 3] ^= 0x40;
  fs.writeFileSync(weights, bytes);
  // every checkpoint damaged: the resume fails, and config.json and the logs are as they were
  const other = path.join(b, 'checkpoints', 'iter-000002', 'optimizer.safetensors');
  const saved = fs.readFileSync(other);
  fs.truncateSync(other, 100);
  const before = snapshot(b);
  await assert.rejects(train(settings(b, 4)), /no checkpoint can be used \(iter-000003: model\.safetensors differs.*iter-000002: optimizer\.safetensors has 100 bytes/);
  assert.deepEqual(snapshot(b), before, 'nothing rewritten');
  fs.writeFileSync(other, saved);
  await train(settings(b, 4));
  assert.equal((JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')) as { iterations: number }).iterations, 4);
  const strip = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('time/') && k !== 'tokens_per_s')));
  assert.deepEqual(strip(readJsonl(path.join(b, 'metrics.jsonl'))), strip(readJsonl(path.join(straight, 'metrics.jsonl'))));
  assert.deepEqual(readJsonl(path.join(b, 'samples.jsonl')), readJsonl(path.join(straight, 'samples.jsonl')));
  const wa = loadModelFolder(path.join(straight, 'model')).weights;
  const wb = loadModelFolder(path.join(b, 'model')).weights;
  let maxDiff = 0;
  for (const [name, w] of wa) w.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - wb.get(name)![i]))));
  assert.equal(maxDiff, 0, `weights differ after the fallback resume, max diff ${maxDiff}`);
});

test('time-based checkpoints: with checkpointEvery far away, checkpointMinutes still saves (0 = only the last)', async () => {
  const timed = tmp('timed');
  await train(settings(timed, 3, { checkpointEvery: 100, checkpointMinutes: 1e-9 }));
  assert.deepEqual(fs.readdirSync(path.join(timed, 'checkpoints')).sort(), ['iter-000002', 'iter-000003']);
  const byCount = tmp('count');
  await train(settings(byCount, 3, { checkpointEvery: 100, checkpointMinutes: 0 }));
  assert.deepEqual(fs.readdirSync(path.join(byCount, 'checkpoints')), ['iter-000003']);
});

test('failure is not success: skipped updates past --max-skipped-updates, a resume behind the run', async () => {
  const nan: RewardSource = { name: 'nan', score: async (_q, a) => a.map((g) => g.map(() => NaN)) };
  const out = tmp('skips');
  await assert.rejects(train({ ...settings(out, 4, { maxSkippedUpdates: 1 }), reward: nan }), /iteration 2: 2 of 2 updates were skipped .* more than --max-skipped-updates 1; the run stopped/);
  assert.ok(!fs.existsSync(path.join(out, 'model')));
  const done = tmp('done');
  await train(settings(done, 2));
  const config = fs.readFileSync(path.join(done, 'config.json'), 'utf8');
  await assert.rejects(train(settings(done, 1)), /already at iteration 2, past --iterations 1; nothing was changed/);
  await assert.rejects(train(settings(done, 2)), /already finished all 2 iterations/);
  assert.equal(fs.readFileSync(path.join(done, 'config.json'), 'utf8'), config, 'config.json not rewritten');
});

test('logprobs refuses a sequence longer than the context; eval with an unreachable judge leaves no folder', async () => {
  const input = path.join(tmp('lp'), 'long.json');
  fs.writeFileSync(input, JSON.stringify({ sequences: [[1, 2], Array.from({ length: 129 }, () => 3)] }));
  assertOneLine(selfplay(['logprobs', '--model', fixture, '--input', input]), /sequences\[1\] has 129 tokens, more than the model's context of 128/);
  const port = await new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(p));
    });
  });
  const set = path.join(tmp('set'), 'set.jsonl');
  fs.writeFileSync(set, '{"instruction": "hi"}\n');
  const out = path.join(tmp('eval'), 'report');
  const r = selfplay(['eval', '--model', model, '--baseline', model, '--set', set, '--judge', `openai:http://127.0.0.1:${port}`, '--judge-model', 'x', '--out', out]);
  assertOneLine(r, /cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\); start the judge server/);
  assert.ok(!fs.existsSync(out), 'no eval folder left behind');
});
