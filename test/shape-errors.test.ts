/**
 * Shape errors are caught when a graph is recorded, as ShapeError, with a message naming the op and the shapes
 * involved (no ONNX Runtime needed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../src/errors.ts';
import * as T from '../src/tensor/index.ts';

/** Asserts `fn` throws a ShapeError whose message matches `message`. */
function throwsShape(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ShapeError, `expected a ShapeError, got ${e}`);
    assert.match(e.message, message);
    return true;
  });
}

const graph = () => new T.Graph('shapes');

test('matmul: inner-dimension mismatch names the op, the transposes and both shapes', () => {
  const g = graph();
  const a = g.input('a', [2, 3]);
  throwsShape(() => T.matmul(a, g.input('b', [4, 5])), /^matmul A @ B: inner dimensions differ: a\[2,3\] and b\[4,5\]$/);
  throwsShape(() => T.matmul(a, g.input('c', [3, 5]), { transA: true }), /matmul A\^T @ B: .*a\[2,3\] and c\[3,5\]/);
  throwsShape(() => T.matmul(g.input('d', [2, 3, 4]), g.input('e', [5, 4])), /matmul A @ B: .*d\[2,3,4\] and e\[5,4\]/);
  throwsShape(() => T.matmul(g.input('f', [2, 3, 4]), g.input('h', [3, 4, 5])), /matmul: shapes \[2\] and \[3\] do not broadcast/);
  throwsShape(() => T.matmul(g.input('v', [3]), a), /matmul: needs operands of rank >= 2.*v\[3\].*a\[2,3\]/);
});

test('elementwise: non-broadcastable shapes and mixed dtypes', () => {
  const g = graph();
  const x = g.input('x', [2, 3]);
  throwsShape(() => T.add(x, g.input('y', [4])), /^add: shapes \[2,3\] and \[4\] do not broadcast$/);
  throwsShape(() => T.mul(g.input('z', [5, 1, 3]), g.input('w', [4, 2])), /^mul: shapes \[5,1,3\] and \[4,2\] do not broadcast$/);
  throwsShape(() => T.sub(x, g.input('i', [2, 3], 'int64')), /^sub: input i has dtype int64/);
});

test('reshape: wrong size, two -1', () => {
  const g = graph();
  const x = g.input('x', [2, 3]);
  throwsShape(() => T.reshape(x, [4, 2]), /^reshape: cannot reshape x\[2,3\] to \[4,2\]$/);
  throwsShape(() => T.reshape(x, [4, -1]), /^reshape: cannot reshape x\[2,3\] to \[4,-1\]$/);
  throwsShape(() => T.reshape(x, [-1, -1]), /^reshape: more than one -1 in \[-1,-1\]$/);
});

test('reshape rejects negative dimensions other than -1 ([-2,-1] is an error, not [-2,-3])', () => {
  const g = graph();
  throwsShape(() => T.reshape(g.input('x', [2, 3]), [-2, -1]), /reshape: .*x\[2,3\].*\[-2,-1\]/);
});

test('concat: shapes that differ off the axis, bad axis', () => {
  const g = graph();
  const x = g.input('x', [2, 3]);
  throwsShape(() => T.concat([x, g.input('y', [2, 4])], 0), /^concat: \[2,3\] and \[2,4\] differ off axis 0$/);
  throwsShape(() => T.concat([x, g.input('z', [2, 3, 1])], 1), /^concat: \[2,3\] and \[2,3,1\] differ off axis 1$/);
  throwsShape(() => T.concat([x, x], 2), /^concat: axis 2 out of range for rank 2$/);
});

test('slice: start out of range, empty-reversed range, bad axis', () => {
  const g = graph();
  const x = g.input('x', [2, 3]);
  throwsShape(() => T.slice(x, 1, 5, 6), /^slice: \[5, -?\d+\) outside axis 1 of x\[2,3\]$/);
  throwsShape(() => T.slice(x, 1, -5, 2), /^slice: \[-\d+, 2\) outside axis 1 of x\[2,3\]$/);
  throwsShape(() => T.slice(x, 0, 2, 1), /^slice: \[2, 1\) outside axis 0 of x\[2,3\]$/);
  throwsShape(() => T.slice(x, 2, 0, 1), /^slice: axis 2 out of range for rank 2$/);
});

test('pad rejects an axis out of range (pad(x[2,3], 5, 1, 0))', () => {
  const g = graph();
  throwsShape(() => T.pad(g.input('x', [2, 3]), 5, 1, 0), /pad: axis 5 out of range for rank 2/);
});

test('transpose: bad permutations', () => {
  const g = graph();
  const x = g.input('x', [2, 3]);
  throwsShape(() => T.transpose(x, [0, 0]), /^transpose: perm \[0,0\] does not fit x\[2,3\]$/);
  throwsShape(() => T.transpose(x, [1, 0, 2]), /^transpose: perm \[1,0,2\] does not fit x\[2,3\]$/);
  throwsShape(() => T.transpose(x, [0]), /^transpose: perm \[0\] does not fit x\[2,3\]$/);
  throwsShape(() => T.transpose(x, [1, 2]), /^transpose: perm \[1,2\] does not fit x\[2,3\]$/);
});

test('expand, reduce, gatherLast, grad', () => {
  const g = graph();
  const x = g.input('x', [2, 3], 'float32', true);
  throwsShape(() => T.expand(x, [4, 4]), /^expand: cannot expand \[2,3\] to \[4,4\]$/);
  throwsShape(() => T.expand(x, [3]), /^expand: cannot expand \[2,3\] to \[3\]$/);
  throwsShape(() => T.reduceSum(x, 2), /^reduce_sum: axis 2 out of range for rank 2$/);
  const idx = g.input('t', [2, 4], 'int64');
  throwsShape(() => T.gatherLast(g.input('z', [2, 3, 5]), idx), /^gather_last: index \[2,4,1\] does not fit z\[2,3,5\]$/);
  throwsShape(() => T.grad(x, [x]), /^grad: loss must have one element, got x\[2,3\]$/);
});

test('reduce names an out-of-range negative axis as given (axis -3, not its normalised form)', () => {
  const g = graph();
  throwsShape(() => T.reduceSum(g.input('x', [2, 3]), -3), /^reduce_sum: axis -3 out of range for rank 2$/);
});

test('attention: head counts that do not group, k of the wrong shape', () => {
  const g = graph();
  const zero = g.scalar(0);
  const q = g.input('q', [1, 3, 4, 8]);
  const kv = g.input('kv', [1, 2, 4, 8]);
  throwsShape(() => T.groupedAttention(q, kv, kv, zero), /^attention: q \[1,3,4,8\] and k \[1,2,4,8\] do not form grouped-query heads$/);
  const q4 = g.input('q4', [1, 4, 4, 8]);
  const kShort = g.input('kShort', [1, 2, 3, 8]);
  throwsShape(() => T.groupedAttention(q4, kShort, kShort, zero), /^attention: q \[1,4,4,8\] and k \[1,2,3,8\]/);
  const kWide = g.input('kWide', [1, 2, 4, 6]);
  throwsShape(() => T.groupedAttention(q4, kWide, kWide, zero), /^attention: q \[1,4,4,8\] and k \[1,2,4,6\]/);
  throwsShape(() => T.rope(g.input('odd', [1, 2, 4, 5]), zero, zero), /^rope: head width 5 of odd\[1,2,4,5\] must be even$/);
});

test('attention checks v like k (v [1,K,T,D] with B=2 does not broadcast; a wrong D is named as the v shape)', () => {
  const g = graph();
  const q = g.input('q', [2, 4, 4, 8]);
  const k = g.input('k', [2, 2, 4, 8]);
  throwsShape(() => T.groupedAttention(q, k, g.input('v1', [1, 2, 4, 8]), g.scalar(0)), /attention: .*v \[1,2,4,8\]/);
  throwsShape(() => T.groupedAttention(q, k, g.input('v6', [2, 2, 4, 6]), g.scalar(0)), /attention: .*v \[2,2,4,6\]/);
});

test('embedding: float ids, table of the wrong rank', () => {
  const g = graph();
  const table = g.input('table', [10, 4]);
  throwsShape(() => T.embedding(table, g.input('ids', [2, 3])), /^embedding: .*int64 ids, got table\[10,4\]:float32 and ids\[2,3\]:float32$/);
  const ids = g.input('ids64', [2, 3], 'int64');
  throwsShape(() => T.embedding(g.input('t3', [10, 4, 1]), ids), /^embedding: .*got t3\[10,4,1\]:float32 and ids64\[2,3\]:int64$/);
});

test('graph: tensors from another graph, duplicate inputs, bad constants', () => {
  const g = graph();
  const other = new T.Graph('other').input('o', [2]);
  throwsShape(() => T.add(g.input('x', [2]), other), /^add: input o belongs to another graph$/);
  throwsShape(() => g.input('x', [2]), /^graph shapes: duplicate input x$/);
  throwsShape(() => g.constant([1, 2, 3], [2, 2]), /^constant: 3 values for shape \[2,2\]$/);
  throwsShape(() => g.input('bad', [2, -1]), /^input bad: bad dimension -1 in \[2,-1\]$/);
});
