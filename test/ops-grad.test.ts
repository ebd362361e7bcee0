import { test } from 'node:test';
import * as T from '../src/tensor/index.ts';
import { gradcheck } from './helpers/gradcheck.ts';

const report = (name: string, d: number) => console.log(`  ${name}: max rel diff ${d.toExponential(2)}`);

test('matmul with every transpose combination, rank 2 and batched', async () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = transA ? [4, 3] : [3, 4];
      const b = transB ? [5, 4] : [4, 5];
      report(`mm ${transA} ${transB}`, await gradcheck('mm', [{ shape: a }, { shape: b }], ([x, y]) => T.matmul(x, y, { transA, transB })));
      report(`bmm ${transA} ${transB}`, await gradcheck('bmm', [{ shape: [2, ...a] }, { shape: [2, ...b] }], ([x, y]) => T.matmul(x, y, { transA, transB })));
    }
  }
});
