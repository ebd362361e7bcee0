import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mean } from '../src/util/math.ts';

test('mean: the arithmetic mean; NaN for an empty array', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.equal(mean([-0.5]), -0.5);
  assert.ok(Number.isNaN(mean([])));
  assert.ok(Number.isNaN(mean([1, NaN])));
});
