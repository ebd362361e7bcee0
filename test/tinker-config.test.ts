/** The config of a remote run: what a tinker backend needs, and the settings it refuses, each named in one line. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../src/errors.ts';
import { effectiveLoss, resolveConfig } from '../src/rl/config.ts';

const refused = (settings: Record<string, unknown>, pattern: RegExp) =>
  assert.throws(() => resolveConfig(settings), (e: Error) => e instanceof InputError && pattern.test(e.message), JSON.stringify(settings));

test('a tinker backend trains with importance_sampling (auto), locally the exact loss stays the default', () => {
  assert.equal(effectiveLoss(resolveConfig({})), 'exact');
  assert.equal(effectiveLoss(resolveConfig({ backend: 'tinker:http://127.0.0.1:8000' })), 'importance_sampling');
  assert.equal(effectiveLoss(resolveConfig({ policyLoss: 'importance_sampling', klFold: 'to-go' })), 'importance_sampling');
  assert.equal(resolveConfig({ backend: 'tinker:https://h.example/x', baseModel: 'b' }).baseModel, 'b');
});

test('settings a tinker backend cannot honour, and tinker settings without one, are refused naming the field', () => {
  refused({ backend: 'tinker:http://h', policyLoss: 'exact' }, /policyLoss exact is computed by the local engine only/);
  refused({ backend: 'tinker:http://h', klEstimator: 'k3' }, /klEstimator k3 cannot be folded/);
  refused({ policyLoss: 'importance_sampling', klEstimator: 'literal' }, /klEstimator literal cannot be folded/);
  refused({ klFold: 'token' }, /klFold is only read with policyLoss importance_sampling/);
  refused({ baseModel: 'x' }, /baseModel is only read with backend tinker:URL/);
  refused({ remoteRetries: 2 }, /remoteRetries is only read with backend tinker:URL/);
  refused({ backend: 'ftp://h' }, /backend: expected 'local' or 'tinker:http\(s\)/);
});
