/**
 * `selfplay train --backend tinker:URL` against `selfplay serve --tinker` on loopback: 3 LSP iterations on
 * models/default with small N, G and token budgets (the same run at the default settings is
 * test/reliability/tinker-train.test.ts):
 *
 * - the remote run's metrics.jsonl equals a local run of the same seed and settings within 1e-4 per value (the local
 *   run with policyLoss importance_sampling: the loss the Tinker API computes, with the KL folded in);
 * - the service dies in iteration 2: one clear line, no stack, and the run folder keeps iteration 1's checkpoint;
 * - the service is restarted on the same --state-dir (another port) and --resume continues to the same metrics;
 * - a service that does not answer at the start stops the run before anything is written.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { run, runOk, TINY, tmp } from './reliability/run-cli.ts';
import { FakeTinker } from './helpers/fake-tinker.ts';
import { dyingProxy, metricsMaxDiff, tinkerServiceForFile } from './helpers/tinker-run.ts';

const dir = tmp('tinker-train');
const common = [...TINY, '--seed', '5', '--checkpoint-every', '1', '--threads', '1'];
const service = tinkerServiceForFile(dir);

test('a remote run equals the local one, survives the service dying mid-run, and resumes on the restarted service', async () => {
  const local = path.join(dir, 'local');
  const remote = path.join(dir, 'remote');
  await runOk(['train', ...common, '--iterations', '3', '--policy-loss', 'importance_sampling', '--out', local]);

  // the service is lost in iteration 2 (after one optim_step): the run stops with one line and keeps iteration 1
  const proxy = await dyingProxy(service.url, 1);
  const lost = await run(['train', ...common, '--iterations', '3', '--remote-retries', '1', '--backend', `tinker:${proxy.url}`, '--out', remote]);
  await proxy.close();
  assert.equal(lost.code, 1, lost.stderr);
  const errors = lost.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, lost.stderr);
  console.log(`  the lost service: ${lost.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  assert.match(errors[0], /^error: tinker POST \/api\/v1\/\w+: connection failed/);
  assert.ok(!/\n\s+at /.test(lost.stderr), `no stack trace:\n${lost.stderr}`);
  assert.deepEqual(fs.readdirSync(path.join(remote, 'checkpoints')), ['iter-000001']);
  assert.ok(fs.existsSync(path.join(remote, 'checkpoints', 'iter-000001', 'remote.json')));

  // the service crashes and comes back on another port with its state: the run resumes from iteration 1
  await service.restart();
  const resumed = await runOk(['train', '--resume', remote, '--backend', `tinker:${service.url}`, '--threads', '1']);
  assert.match(resumed.stderr, /resume: continuing from iter-000001/);
  const saved = JSON.parse(fs.readFileSync(path.join(remote, 'remote-model.json'), 'utf8'));
  assert.match(saved.sampler, /^tinker:\/\/.+\/sampler_weights\//);

  const { max, at } = metricsMaxDiff(local, remote);
  console.log(`  remote (with a lost service and a resume) vs local metrics: max abs diff ${max.toExponential(2)} at ${at}`);
  assert.ok(max <= 1e-4, `max abs diff ${max} > 1e-4 at ${at}`);
});

test('a service that does not answer at the start: one line naming it, and no run folder is made', async () => {
  const gone = await FakeTinker.start();
  const url = gone.url;
  await gone.close();
  const out = path.join(dir, 'never');
  const r = await run(['train', ...common, '--remote-retries', '1', '--backend', `tinker:${url}`, '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /error: tinker GET \/api\/v1\/healthz: connection failed \(ECONNREFUSED\); gave up after 2 tries/);
  assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
  assert.ok(!fs.existsSync(out));
});
