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

test('the SIMD kernel (float32) matches the scalar float64 update on 100,003 elements, tail included', async () => {
  const { updateTensor } = await import('../src/optim/adamw.ts');
  const { simdAvailable } = await import('../src/optim/adamw-simd.ts');
  assert.ok(simdAvailable, 'WebAssembly SIMD is available in Node >= 20');
  const n = 100_003; // not a multiple of 4: the last 3 go through the scalar loop
  const wave = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 1) * 0.05);
  const scalars = { clip: 0.7, decay: 1 - 1e-3 * 0.1, stepSize: 1e-3 / (1 - 0.9 ** 3), bc2Sqrt: Math.sqrt(1 - 0.999 ** 3), beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  const run = (simd: boolean) => {
    const p = wave(1);
    const m = wave(3).map(Math.abs);
    const v = wave(4).map((x) => x * x);
    updateTensor(p, wave(2), m, v, scalars, simd);
    return { p, m, v };
  };
  const a = run(true);
  const b = run(false);
  // compared on the scale of each quantity (float32 rounding of a few operations: ~1e-7 of it)
  const scaleDiff = (x: Float32Array, y: Float32Array) => {
    let d = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      d = Math.max(d, Math.abs(x[i] - y[i]));
      scale = Math.max(scale, Math.abs(y[i]));
    }
    return d / scale;
  };
  const diffs = { p: scaleDiff(a.p, b.p), m: scaleDiff(a.m, b.m), v: scaleDiff(a.v, b.v) };
  console.log(`  SIMD vs scalar, max diff over max magnitude: p ${diffs.p.toExponential(2)}, m ${diffs.m.toExponential(2)}, v ${diffs.v.toExponential(2)}`);
  for (const [k, d] of Object.entries(diffs)) assert.ok(d < 1e-6, `${k} differs by ${d}`);
  assert.ok(a.p.some((x, i) => x !== b.p[i]), 'the SIMD path really ran (float32 rounding differs somewhere)');
});

test('AdamW through the SIMD kernel matches torch.optim.AdamW over three steps', async () => {
  const { SIMD_MIN_ELEMENTS } = await import('../src/optim/adamw.ts');
  const hp = JSON.parse(fs.readFileSync(path.join(dir, 'hparams.json'), 'utf8'));
  const t = readSafetensors(path.join(dir, 'expected.safetensors')).tensors;
  const f32 = (n: string) => Float32Array.from(t.get(n)!.data as Float32Array);
  // the fixture's tensors tiled past SIMD_MIN_ELEMENTS: each copy must follow torch exactly as the original does
  const copies = Math.ceil(SIMD_MIN_ELEMENTS / f32('init.p0').length) + 1;
  const tile = (a: Float32Array) => Float32Array.from({ length: a.length * copies }, (_, i) => a[i % a.length]);
  const params = new Map([['p0', tile(f32('init.p0'))], ['p1', f32('init.p1')]]);
  // global norm of the tiled gradients is sqrt(copies) times larger: scale them down so clipping is the fixture's
  const opt = new AdamW({ lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weight_decay, maxGradNorm: hp.max_grad_norm });
  for (let k = 1; k <= hp.steps; k++) {
    const g0 = f32(`grad.step${k}.p0`);
    const g1 = f32(`grad.step${k}.p1`);
    const norm = Math.sqrt([...g0, ...g1].reduce((a, x) => a + x * x, 0));
    opt.step(params, new Map([['p0', tile(g0)], ['p1', g1]]), hp.lr, norm); // the fixture's own norm
    const want0 = f32(`after.step${k}.p0`);
    expectClose(`step ${k} p0 (SIMD, first copy)`, params.get('p0')!.subarray(0, want0.length), want0, 1e-6);
    expectClose(`step ${k} p0 (SIMD, last copy)`, params.get('p0')!.subarray(want0.length * (copies - 1)), want0, 1e-6);
    expectClose(`step ${k} p1`, params.get('p1')!, f32(`after.step${k}.p1`), 1e-6);
  }
});
