/**
 * The run scaffold shared by LSP and pretraining (src/train/run-scaffold.ts): checkpoint cadence by steps and by
 * time, Ctrl-C, a failing step, pruning, and the choice of the checkpoint a run resumes from (a damaged newest one
 * is skipped, named and deleted; stale temporaries go; nothing is rewritten before the choice).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ModelFormatError } from '../src/errors.ts';
import { OPTIMIZER_FILE, writeAdamWState } from '../src/backend/optimizer-file.ts';
import { checkpointProblem, loadCheckpointMeta, saveCheckpoint } from '../src/train/checkpoint.ts';
import { JsonlLog, readJsonl } from '../src/train/run-folder.ts';
import { checkpointDue, checkTarget, resumePoint, runSteps, type LoopOptions } from '../src/train/run-scaffold.ts';

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `scaffold-${name}-`));

/** A checkpoint of a one-tensor "model": the optimizer moments carry the step, so a load can be checked. */
function saveToy(dir: string, step: number): void {
  const m = new Float32Array([step, step + 0.5]);
  const saveState = (tmp: string) => (writeAdamWState(path.join(tmp, OPTIMIZER_FILE), { step, m: new Map([['w', m]]), v: new Map([['w', m]]) }), { optimizerStep: step });
  saveCheckpoint(dir, { backend: { saveState }, state: { step, rngState: 1, extra: {} } });
}

function loop(out: string, o: Partial<LoopOptions> = {}): LoopOptions & { saved: number[] } {
  const saved: number[] = [];
  return { out, total: 10, checkpointEvery: 100, checkpointMinutes: 0, logs: [], save: (dir, step) => (saveToy(dir, step), saved.push(step)), saved, ...o };
}

const names = (out: string) => fs.readdirSync(path.join(out, 'checkpoints')).sort();

test('cadence: every K steps, every M minutes of training, and the last step', () => {
  const o = { total: 10, checkpointEvery: 4, checkpointMinutes: 2 };
  assert.deepEqual([1, 2, 3, 4, 5, 8, 10].filter((d) => checkpointDue(o, d, 0)), [4, 8, 10]);
  assert.equal(checkpointDue(o, 1, 119_999), false);
  assert.equal(checkpointDue(o, 1, 120_000), true);
  assert.equal(checkpointDue({ ...o, checkpointMinutes: 0 }, 1, 1e12), false, 'minutes 0 = by steps only');
});

test('runSteps: a time-based checkpoint with a clock that moves 50 s per step; the newest two are kept; logs cut back', async () => {
  const out = tmp('time');
  let t = 0;
  const log = new JsonlLog(path.join(out, 'log.jsonl'), 'step');
  fs.writeFileSync(log.file, [1, 2, 3].map((s) => `${JSON.stringify({ step: s })}\n`).join('') + '{"step": 4, "torn');
  const o = loop(out, { checkpointMinutes: 2, now: () => t, logs: [log] });
  const end = await runSteps(o, 1, async () => void (t += 50_000), (done) => log.append({ step: done }));
  assert.deepEqual(end, { step: 10, interrupted: false });
  // 50 s a step: 150 s >= 2 minutes after steps 4, 7; then the last step
  assert.deepEqual(o.saved, [4, 7, 10]);
  assert.deepEqual(names(out), ['iter-000007', 'iter-000010']);
  assert.deepEqual(readJsonl(log.file).map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the log was cut back to step 1, then appended');
});

test('runSteps: Ctrl-C finishes the step, checkpoints, and returns interrupted; a second listener is not left behind', async () => {
  const out = tmp('sigint');
  const before = process.listenerCount('SIGINT');
  const o = loop(out);
  const end = await runSteps(o, 0, async (i) => {
    if (i === 2) process.emit('SIGINT');
  }, () => {});
  assert.deepEqual(end, { step: 3, interrupted: true });
  assert.deepEqual(o.saved, [3]);
  assert.equal(process.listenerCount('SIGINT'), before);
});

test('runSteps: a record that returns an error stops the run after checkpointing; one that throws saves nothing more', async () => {
  const out = tmp('stop');
  const o = loop(out);
  await assert.rejects(runSteps(o, 0, async () => {}, (done) => (done === 3 ? new Error('stop here') : undefined)), /stop here/);
  assert.deepEqual(o.saved, [3]);
  // a log write that fails: the step's records may be missing, so the run must resume from its last checkpoint
  const o2 = loop(tmp('log-fails'), { checkpointEvery: 2 });
  await assert.rejects(runSteps(o2, 0, async () => {}, (done) => {
    if (done === 3) throw new Error('ENOSPC');
  }), /ENOSPC/);
  assert.deepEqual(o2.saved, [2]);
  // a step that throws changed nothing: the state after the steps before it is saved
  const o3 = loop(tmp('step-fails'), { checkpointEvery: 2 });
  await assert.rejects(runSteps(o3, 0, async (i) => {
    if (i === 2) throw new Error('out of memory');
  }, () => {}), /out of memory/);
  assert.deepEqual(o3.saved, [2]);
  const o4 = loop(tmp('step-fails-late'), { checkpointEvery: 2 });
  await assert.rejects(runSteps(o4, 0, async (i) => {
    if (i === 3) throw new Error('out of memory');
  }, () => {}), /out of memory/);
  assert.deepEqual(o4.saved, [2, 3]);
});

test('resumePoint: the newest checkpoint that verifies; a damaged newer one is named and deleted; leftovers removed', () => {
  const out = tmp('resume');
  for (const s of [2, 3]) saveToy(path.join(out, 'checkpoints', `iter-00000${s}`), s);
  assert.equal(checkpointProblem(path.join(out, 'checkpoints', 'iter-000003')), null);
  // flip one byte of the newest checkpoint's optimizer state: same size, other content
  const file = path.join(out, 'checkpoints', 'iter-000003', 'optimizer.safetensors');
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(file, bytes);
  fs.mkdirSync(path.join(out, 'checkpoints', 'iter-000004.tmp-123-abc123'));
  fs.mkdirSync(path.join(out, 'model.tmp-77-ffee'));
  const lines: string[] = [];
  const r = resumePoint(out, (dir) => ({ step: loadCheckpointMeta(dir).state.step, value: dir }), (l) => lines.push(l));
  assert.equal(r.start, 2);
  assert.match(lines.join('\n'), /iter-000003 is damaged \(optimizer\.safetensors differs from the file saved \(sha256\); deleted\); continuing from iter-000002/);
  assert.match(lines.join('\n'), /removed leftovers of an interrupted save: model\.tmp-77-ffee, iter-000004\.tmp-123-abc123/);
  assert.deepEqual(names(out), ['iter-000002']);
  assert.ok(!fs.existsSync(path.join(out, 'model.tmp-77-ffee')));
});

test('resumePoint: a truncated file is caught by its size; a checkpoint save killed between its renames is put back', () => {
  const out = tmp('trunc');
  saveToy(path.join(out, 'checkpoints', 'iter-000001'), 1);
  saveToy(path.join(out, 'checkpoints', 'iter-000002'), 2);
  const file = path.join(out, 'checkpoints', 'iter-000002', 'optimizer.safetensors');
  fs.truncateSync(file, 10);
  assert.match(checkpointProblem(path.dirname(file))!, /optimizer\.safetensors has 10 bytes, \d+ when saved/);
  // the old folder was moved aside, and the process died before the new one was renamed in
  fs.renameSync(path.join(out, 'checkpoints', 'iter-000001'), path.join(out, 'checkpoints', 'iter-000001.old-5-ab12'));
  // a final model/ caught the same way is dropped instead: it is an older run's, and the last checkpoint re-makes it
  fs.mkdirSync(path.join(out, 'model.old-5-ab12'));
  const r = resumePoint(out, (dir) => ({ step: loadCheckpointMeta(dir).state.step, value: dir }), () => {});
  assert.equal(r.start, 1);
  assert.ok(!fs.existsSync(path.join(out, 'model')) && !fs.existsSync(path.join(out, 'model.old-5-ab12')));
});

test('resumePoint: no checkpoint usable is an error naming each one, and nothing is deleted', () => {
  const out = tmp('none');
  saveToy(path.join(out, 'checkpoints', 'iter-000001'), 1);
  fs.rmSync(path.join(out, 'checkpoints', 'iter-000001', 'optimizer.safetensors'));
  assert.throws(() => resumePoint(out, () => ({ step: 0, value: 0 }), () => {}), (e: Error) => e instanceof ModelFormatError && /iter-000001: optimizer\.safetensors is missing/.test(e.message));
  assert.deepEqual(names(out), ['iter-000001']);
  assert.equal(resumePoint(tmp('fresh'), () => ({ step: 0, value: 0 }), () => {}).start, 0, 'a new run starts at 0');
});

test('checkTarget: a resume behind the run, or of a finished run, is refused with the way on', () => {
  assert.throws(() => checkTarget(6, 3, true, 'iteration', '--iterations'), /already at iteration 6, past --iterations 3; nothing was changed/);
  assert.throws(() => checkTarget(6, 6, true, 'iteration', '--iterations'), /already finished all 6 iterations/);
  assert.doesNotThrow(() => checkTarget(6, 6, false, 'iteration', '--iterations'), 'killed while saving model/: finish the save');
  assert.doesNotThrow(() => checkTarget(3, 6, false, 'iteration', '--iterations'));
});
