/** The session cache: arenas on by default, released by count and by a resident-memory budget. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import os from 'node:os';
import { InputError } from '../src/errors.ts';
import { defaultMemoryBudgetMB, Runtime } from '../src/runtime/runtime.ts';
import * as T from '../src/tensor/index.ts';

/** A tiny graph y = x * k, distinct per k, and its result on x = [1, 2]. */
async function compileScale(runtime: Runtime, k: number) {
  const session = await runtime.compile(`scale-${k}`, () => {
    const g = new T.Graph(`scale_${k}`);
    const x = g.input('x', [2]);
    return T.toOnnx(g, { y: T.mul(x, k) });
  });
  const { y } = await session.run({ x: { data: Float32Array.from([1, 2]), dims: [2] } });
  return [...(y.data as Float32Array)];
}

test('runtime defaults: memory arena on, a quarter of the machine as memory budget', () => {
  const r = new Runtime();
  assert.equal(r.options.memoryArena, true);
  assert.ok(r.options.memoryBudgetMB > 0);
});

test('SELFPLAY_MEMORY_MB sets the default budget; a bad value is one line naming the variable', () => {
  assert.equal(defaultMemoryBudgetMB({ SELFPLAY_MEMORY_MB: '3000' }), 3000);
  assert.equal(defaultMemoryBudgetMB({}), Math.round(os.totalmem() / 4 / 2 ** 20));
  for (const bad of ['3GB', '12.5', '100', '-1']) {
    assert.throws(() => defaultMemoryBudgetMB({ SELFPLAY_MEMORY_MB: bad }), (e: Error) => e instanceof InputError && /^SELFPLAY_MEMORY_MB=.*whole megabytes/.test(e.message), bad);
  }
});

test('over the memory budget, least recently used sessions are released, keeping the 8 newest', async () => {
  const tight = new Runtime({ threads: 1, memoryBudgetMB: 1 }); // any process is over 1 MB
  for (let k = 1; k <= 11; k++) assert.deepEqual(await compileScale(tight, k), [k, 2 * k]);
  const kept = Array.from({ length: 11 }, (_, i) => i + 1).filter((k) => tight.has(`scale-${k}`));
  assert.deepEqual(kept, [4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(await compileScale(tight, 1), [1, 2], 'a released graph compiles again on demand');
  await tight.release();

  const roomy = new Runtime({ threads: 1, memoryBudgetMB: 1e9, maxSessions: 5 });
  for (let k = 1; k <= 7; k++) await compileScale(roomy, k);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].filter((k) => roomy.has(`scale-${k}`)), [3, 4, 5, 6, 7], 'the count bound still holds');
  await roomy.release();
});

test('compiles are counted per key; a cached key is not compiled again', async () => {
  const r = new Runtime({ threads: 1 });
  await compileScale(r, 3);
  await compileScale(r, 3);
  await compileScale(r, 4);
  assert.equal(r.compiles.total, 2);
  assert.deepEqual([...r.compiles.perKey], [['scale-3', 1], ['scale-4', 1]]);
  await r.release();
  await compileScale(r, 3);
  assert.equal(r.compiles.perKey.get('scale-3'), 2, 'a released key compiles again, and that is counted');
  await r.release();
});
