/**
 * The acceptance run of a remote backend, on the default settings (N=8, G=4, the default sampling budgets):
 * `selfplay serve --tinker` on a loopback port, `selfplay train --backend tinker:URL` for 3 iterations of LSP on
 * models/default, its metrics.jsonl against a local run of the same seed within 1e-4 per value (the local run
 * computes the same loss: policyLoss importance_sampling, the KL folded into per-token advantages); then the
 * service is killed (SIGKILL) and restarted on the same --state-dir, and the run resumes to iteration 4, again
 * equal to the local run. A few minutes on 2 cores; the tiny version is in npm test (test/tinker-train.test.ts).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { metricsMaxDiff, tinkerServiceForFile } from '../helpers/tinker-run.ts';
import { runOk, tmp } from './run-cli.ts';

const dir = tmp('tinker-accept');
const common = ['--seed', '3', '--quiet', '--threads', '1', '--checkpoint-every', '1'];
const service = tinkerServiceForFile(dir);

function expectSame(local: string, remote: string, rows: number, what: string): void {
  const { max, at } = metricsMaxDiff(local, remote, rows);
  console.log(`  ${what}: max abs diff ${max.toExponential(2)} at ${at}`);
  assert.ok(max <= 1e-4, `${what}: max abs diff ${max} > 1e-4 at ${at}`);
}

test('3 remote LSP iterations equal the local run; after the service is killed and restarted, the run resumes to the same iteration 4', async () => {
  const local = path.join(dir, 'local');
  const remote = path.join(dir, 'remote');
  await runOk(['train', ...common, '--iterations', '4', '--policy-loss', 'importance_sampling', '--out', local]);
  await runOk(['train', ...common, '--iterations', '3', '--backend', `tinker:${service.url}`, '--out', remote]);
  expectSame(local, remote, 3, '3 iterations, remote vs local');

  await service.restart();
  const resumed = await runOk(['train', '--resume', remote, '--iterations', '4', '--backend', `tinker:${service.url}`, '--threads', '1']);
  assert.match(resumed.stderr, /resume: continuing from iter-000003/);
  expectSame(local, remote, 4, 'resumed on the restarted service to 4 iterations, remote vs local');
});
