/** AdamW + global-norm clipping against torch.optim.AdamW on the same gradients (test/fixtures/adamw). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AdamW } from '../src/optim/adamw.ts';
import { readSafetensors } from '../src/model/safetensors.ts';
import { expectClose } from './helpers/compare.ts';

const dir = path.join(import.meta.dirname, 'fixtures', 'adamw');

test('AdamW with clipping matches torch.optim.AdamW over three steps', () => {
  const hp = JSON.parse(fs.readFileSync(path.join(dir, 'hparams.json'), 'utf8'));
  const t = readSafetensors(path.join(dir, 'expected.safetensors')).tensors;
  const f32 = (n: string) => Float32Array.from(t.get(n)!.data as Float32Array);
  const params = new Map([['p0', f32('init.p0')], ['p1', f32('init.p1')]]);
  const opt = new AdamW({ lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weight_decay, maxGradNorm: hp.max_grad_norm });
  for (let k = 1; k <= hp.steps; k++) {
    const grads = new Map([['p0', f32(`grad.step${k}.p0`)], ['p1', f32(`grad.step${k}.p1`)]]);
    const { gradNorm } = opt.step(params, grads);
    expectClose(`step ${k} grad norm`, [gradNorm], f32(`grad_norm.step${k}`), 1e-6);
    expectClose(`step ${k} p0`, params.get('p0')!, f32(`after.step${k}.p0`), 1e-6);
    expectClose(`step ${k} p1`, params.get('p1')!, f32(`after.step${k}.p1`), 1e-6);
  }
  assert.equal(opt.state.step, hp.steps);
});

test('AdamW refuses a non-finite gradient and leaves the parameters untouched', () => {
  const p = Float32Array.of(1, 2);
  const opt = new AdamW({ lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 });
  assert.throws(() => opt.step(new Map([['p', p]]), new Map([['p', Float32Array.of(NaN, 0)]])), /gradient norm is NaN/);
  assert.deepEqual([...p], [1, 2]);
});
