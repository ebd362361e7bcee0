/**
 * Crash safety of `selfplay train`, as a hostile but fair user tries it (long; `npm run test:reliability`):
 *
 * - SIGKILL at a random point (SELFPLAY_KILL_TRIALS trials, default 10), each resumed and compared with an
 *   uninterrupted run: metrics (without timings), samples and final weights must be equal; the iterations lost
 *   (done at the kill minus the checkpoint the resume continued from) are summed and reported;
 * - SIGKILL while a checkpoint, and while the final model/, is being written: the leftover `*.tmp-*` is removed on
 *   resume and the result is still the uninterrupted one;
 * - a damaged newest checkpoint: the resume continues from the one before it, says so, and ends equal;
 * - a full disk (metrics.jsonl moved to /dev/full mid-run): one line, and after the disk is "freed" the run resumes
 *   from its last checkpoint to the same end.
 *
 * The trials use a time-based cadence of SELFPLAY_KILL_CHECKPOINT_MINUTES (default 0.05 = 3 s of training) and no
 * iteration-based one, so what they lose shows what the default 2-minute cadence bounds on a larger scale.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { completeRecords, defaultModel, differences, resumedFrom, run, runOk, sleep, start, tmp, TINY, waitForEntry, type Started } from './run-cli.ts';

const ITERATIONS = 4;
const TRIALS = Number(process.env.SELFPLAY_KILL_TRIALS ?? 10);
const MINUTES = process.env.SELFPLAY_KILL_CHECKPOINT_MINUTES ?? '0.05';
const base = ['train', '--model', defaultModel, ...TINY, '--seed', '3'];
const fresh = (out: string, extra: string[] = []) => [...base, '--iterations', String(ITERATIONS), '--out', out, ...extra];
const resume = (out: string, iterations = ITERATIONS) => ['train', '--resume', out, '--iterations', String(iterations)];

let reference = '';
let straightMs = 0;
const children: Started[] = [];

before(async () => {
  reference = path.join(tmp('reference'), 'run');
  const t0 = Date.now();
  await runOk(fresh(reference, ['--checkpoint-every', '100', '--checkpoint-minutes', MINUTES]));
  straightMs = Date.now() - t0;
});

after(() => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
});

function track(s: Started): Started {
  children.push(s);
  return s;
}

test(`SIGKILL at a random point, ${TRIALS} trials: every resumed run equals the uninterrupted one`, async (t) => {
  let lost = 0;
  let equal = 0;
  const rows: string[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const out = path.join(tmp(`kill-${trial}`), 'run');
    const p = track(start(fresh(out, ['--checkpoint-every', '100', '--checkpoint-minutes', MINUTES])));
    const delay = Math.round(Math.random() * straightMs);
    await Promise.race([sleep(delay), p.done]);
    p.child.kill('SIGKILL');
    const killed = await p.done;
    const doneAtKill = completeRecords(path.join(out, 'metrics.jsonl'));
    // a run killed before it saved its config has nothing to resume: it is started again in place (as the message says)
    const exists = fs.existsSync(path.join(out, 'config.json'));
    const finished = fs.existsSync(path.join(out, 'model', 'config.json'));
    // finished before the kill: nothing to resume
    const again = exists ? resume(out) : fresh(out, ['--checkpoint-every', '100', '--checkpoint-minutes', MINUTES]);
    const r = finished ? { code: 0, stderr: '' } : await run(again);
    assert.equal(r.code, 0, `trial ${trial} (killed after ${delay} ms): the resume failed:\n${r.stderr}`);
    const from = finished ? doneAtKill : resumedFrom(r.stderr);
    const trialLost = killed.signal === 'SIGKILL' ? Math.max(0, doneAtKill - from) : 0;
    lost += trialLost;
    const diff = differences(reference, out);
    if (diff.length === 0) equal++;
    rows.push(`trial ${trial}: killed at ${delay} ms (${killed.signal ?? 'finished first'}), ${doneAtKill} iterations logged, resumed from ${from}, lost ${trialLost}${diff.length ? `, DIFFERS: ${diff.join(', ')}` : ''}`);
  }
  const summary = `kill trials: ${TRIALS} run, ${lost} iterations lost in total (checkpoint every ${MINUTES} min of training; one run of ${ITERATIONS} iterations took ${straightMs} ms), ${equal}/${TRIALS} resumed runs equal to the uninterrupted one`;
  for (const row of [...rows, summary]) t.diagnostic(row);
  process.stderr.write(`${summary}\n`);
  assert.equal(equal, TRIALS, rows.join('\n'));
});

/** Kills the run as soon as an entry matching `pattern` appears in `dir`; true when the temporary was left behind. */
async function killDuringSave(out: string, args: string[], dir: string, pattern: RegExp): Promise<boolean> {
  const p = track(start(args));
  const name = await waitForEntry(dir, pattern, 10 * 60_000);
  p.child.kill('SIGKILL');
  await p.done;
  return name !== null && fs.readdirSync(dir).some((n) => pattern.test(n));
}

test('SIGKILL during a checkpoint save and during the final model/ save: leftovers removed, result unchanged', async (t) => {
  for (const [what, sub, pattern] of [
    ['checkpoint', 'checkpoints', /^iter-\d+\.tmp-/],
    ['final model', '.', /^model\.tmp-/],
  ] as const) {
    let caught = false;
    for (let attempt = 0; attempt < 5 && !caught; attempt++) {
      const out = path.join(tmp(`save-${sub === '.' ? 'model' : 'ckpt'}`), 'run');
      caught = await killDuringSave(out, fresh(out, ['--checkpoint-every', '1']), path.join(out, sub), pattern);
      if (!caught) continue;
      const r = await run(resume(out));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /removed leftovers of an interrupted save: .*\.tmp-/);
      assert.deepEqual(fs.readdirSync(path.join(out, sub)).filter((n) => /\.(tmp|old)-/.test(n)), []);
      assert.deepEqual(differences(reference, out), []);
      t.diagnostic(`${what}: killed mid-save on attempt ${attempt + 1}; resumed equal to the uninterrupted run`);
    }
    assert.ok(caught, `${what}: no kill landed inside a save in 5 attempts`);
  }
});

test('a damaged newest checkpoint: the resume falls back to the one before, says so, and ends equal', async () => {
  const out = path.join(tmp('damaged'), 'run');
  await runOk([...base, '--iterations', '3', '--out', out, '--checkpoint-every', '1']);
  const file = path.join(out, 'checkpoints', 'iter-000003', 'model.safetensors');
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([0x7f]), 0, 1, fs.statSync(file).size - 5);
  fs.closeSync(fd);
  const r = await run(resume(out));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /iter-000003 is damaged \(model\.safetensors differs from the file saved \(sha256\); deleted\); continuing from iter-000002/);
  assert.deepEqual(differences(reference, out), []);
});

test('a full disk mid-run: one line naming the file, then (space freed) the resume from the last checkpoint ends equal', async (t) => {
  if (!fs.existsSync('/dev/full')) return t.skip('no /dev/full');
  const out = path.join(tmp('full'), 'run');
  const first = track(start(fresh(out, ['--checkpoint-every', '1'])));
  // after the checkpoint of iteration 2, the metrics log moves to a device that is always full
  assert.ok(await waitForEntry(path.join(out, 'checkpoints'), /^iter-000002$/, 10 * 60_000), 'the run reached iteration 2');
  const metrics = path.join(out, 'metrics.jsonl');
  const kept = fs.readFileSync(metrics);
  fs.rmSync(metrics);
  fs.symlinkSync('/dev/full', metrics);
  const r = await first.done;
  assert.equal(r.code, 1, `exit ${r.code}, signal ${r.signal}:\n${r.stderr}`);
  assert.match(r.stderr, /error: .*metrics\.jsonl: cannot write \(ENOSPC\): no space left on the device/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  fs.rmSync(metrics);
  fs.writeFileSync(metrics, kept);
  const again = await run(resume(out));
  assert.equal(again.code, 0, again.stderr);
  assert.ok(resumedFrom(again.stderr) >= 2, again.stderr);
  assert.deepEqual(differences(reference, out), []);
});
