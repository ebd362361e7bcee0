/** Rewards and advantages (src/rl/advantages.ts) against hand-computed values, and their input checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../src/errors.ts';
import {
  challengerAdvantages,
  challengerRewards,
  fracZeroStd,
  groupValues,
  SELF_REWARD_SCALE,
  solverAdvantages,
  solverRewards,
} from '../src/rl/advantages.ts';

const close = (a: number[], b: number[], what: string) => {
  assert.equal(a.length, b.length, what);
  const d = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  assert.ok(d < 1e-12, `${what}: max difference ${d} (${a} vs ${b})`);
};

// N = 3 queries, G = 4 answers
const R = [
  [1, 0, 0.5, 0.5],
  [0.2, 0.2, 0.2, 0.2],
  [0, 0, 0, 1],
];

test('groupValues: V(q_i) is the mean of the group', () => {
  close(groupValues(R), [0.5, 0.2, 0.25], 'values');
});

test('solverAdvantages: A = R - V(q); an all-equal group gives exact zeros and is counted', () => {
  const { advantages_N_G, values_N, zeroStdGroups } = solverAdvantages(R);
  close(values_N, [0.5, 0.2, 0.25], 'values');
  close(advantages_N_G[0], [0.5, -0.5, 0, 0], 'group 0');
  assert.deepEqual(advantages_N_G[1], [0, 0, 0, 0], 'group 1');
  close(advantages_N_G[2], [-0.25, -0.25, -0.25, 0.75], 'group 2');
  assert.equal(zeroStdGroups, 1);
  assert.equal(fracZeroStd(R), 1 / 3);
  assert.equal(fracZeroStd([[0, 0], [1, 1]]), 1);
  assert.notEqual((0.1 + 0.1 + 0.1) / 3, 0.1, 'the mean of equal rewards can differ from them by rounding...');
  assert.deepEqual(solverAdvantages([[0.1, 0.1, 0.1]]).advantages_N_G, [[0, 0, 0]], '...but their advantages are exactly 0');
  advantages_N_G.forEach((g, i) => assert.ok(Math.abs(g.reduce((a, b) => a + b, 0)) < 1e-12, `group ${i} sums to 0`));
});

test('solverRewards: R + w R_Q / 7, or R alone', () => {
  const RQ = [
    [7, 0, 3.5, 1],
    [0, 0, 0, 0],
    [7, 7, 7, 7],
  ];
  assert.equal(SELF_REWARD_SCALE, 1 / 7);
  const total = solverRewards(R, RQ, 0.5);
  close(total[0], [1 + 0.5, 0, 0.5 + 0.25, 0.5 + 0.5 / 7], 'group 0');
  close(total[1], [0.2, 0.2, 0.2, 0.2], 'group 1');
  close(total[2], [0.5, 0.5, 0.5, 1.5], 'group 2');
  assert.deepEqual(solverRewards(R, null, 0.5), R);
  assert.notEqual(solverRewards(R, null, 1)[0], R[0], 'a copy, not the caller array');
});

test('challengerRewards and challengerAdvantages: LSP-Zero gives A_ch = Vbar - V(q_i)', () => {
  const V = groupValues(R); // [0.5, 0.2, 0.25], Vbar = 0.95 / 3
  const c = challengerRewards(V, null, 1);
  close(c, [-0.5, -0.2, -0.25], 'rewards -V');
  const Vbar = 0.95 / 3;
  close(challengerAdvantages(c), V.map((v) => Vbar - v), 'A_ch');
});

test('challengerRewards with self-reward: -V + w V_Q / 7; the advantage subtracts the batch mean', () => {
  const c = challengerRewards([0.5, 0.2, 0.25], [7, 3.5, 0], 2);
  close(c, [-0.5 + 2, -0.2 + 1, -0.25], 'rewards');
  const mean = (1.5 + 0.8 - 0.25) / 3;
  close(challengerAdvantages(c), [1.5 - mean, 0.8 - mean, -0.25 - mean], 'advantages');
  assert.deepEqual(challengerAdvantages([0.1, 0.1, 0.1]), [0, 0, 0], 'equal rewards: exact zeros');
});

test('ragged, empty and non-finite inputs are InputErrors naming the array and entry', () => {
  const bad: [() => unknown, RegExp][] = [
    [() => groupValues([[1, 2], [3]]), /rewards_N_G\[1\]: expected 2 entries like group 0, got 1/],
    [() => solverAdvantages([]), /rewards_N_G: expected N >= 1 groups/],
    [() => solverAdvantages([[]]), /rewards_N_G\[0\]: expected a non-empty array/],
    [() => solverAdvantages([[0, NaN]]), /rewards_N_G\[0\]\[1\]: expected a finite number, got NaN/],
    [() => solverRewards([[1, 0]], [[1, 2, 3]], 1), /selfRewards_N_G is 1x3 but rewards_N_G is 1x2/],
    [() => solverRewards([[1, 0]], [[1], [2]], 1), /selfRewards_N_G is 2x1 but rewards_N_G is 1x2/],
    [() => solverRewards([[1, 0]], [[1, 8]], 1), /selfRewards_N_G\[0\]\[1\]: self-reward 8 is outside \[0, 7\]/],
    [() => solverRewards([[1, 0]], null, Infinity), /self-reward weight w: expected a finite number, got Infinity/],
    [() => challengerRewards([0.5, 0.2], [1], 1), /selfValues_N has 1 entries but values_N has 2/],
    [() => challengerRewards([0.5], [-1], 1), /selfValues_N\[0\]: self-reward -1 is outside/],
    [() => challengerAdvantages([]), /challengerRewards_N: expected a non-empty array/],
  ];
  for (const [fn, message] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof InputError && message.test(e.message), String(message));
  }
});
