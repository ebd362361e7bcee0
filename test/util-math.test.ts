import assert from 'node:assert/strict';
import { test } from 'node:test';
import { finiteMean, mean } from '../src/util/math.ts';

test('mean: the arithmetic mean; NaN for an empty array', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.equal(mean([-0.5]), -0.5);
  assert.ok(Number.isNaN(mean([])));
  assert.ok(Number.isNaN(mean([1, NaN])));
});

test('finiteMean: the mean of the finite entries; NaN when there are none', () => {
  assert.equal(finiteMean([1, NaN, 3, Infinity]), 2);
  assert.ok(Number.isNaN(finiteMean([NaN, -Infinity])));
  assert.ok(Number.isNaN(finiteMean([])));
});
