/**
 * The policy loss (src/rl/losses.ts):
 * (a) loss values and d loss / d logp against hand-computed numbers, for each KL estimator;
 * (b) on a categorical policy (two tokens: y1 ~ softmax(z1), y2 ~ softmax(z2[y1])), each estimator's expected
 *     gradient w.r.t. the logits, exactly (enumerating all sequences) and from 20k seeded samples, against the
 *     closed form it claims: `reward` -> grad KL(pi || pi_ref), `k3` -> the per-token grad KL(pi_ref || pi),
 *     `literal` -> 0;
 * (c) on a tiny Llama, the gradient of the full loss against an independent REINFORCE-plus-KL gradient
 *     (weighted NLL with per-token weights equal to the effective advantages).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelConfig } from '../src/model/config.ts';
import { ModelEngine, padBatch } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { weightedNll } from '../src/model/graphs.ts';
import { type KlEstimator, KL_ESTIMATORS, klEstimate, policyLoss } from '../src/rl/losses.ts';
import { type HostTensor, Runtime } from '../src/runtime/runtime.ts';
import { concat, embedding, expand, Graph, grad, reshape, type Tensor, tokenLogprobs, toOnnx } from '../src/tensor/index.ts';
import { Rng } from '../src/util/rng.ts';
import { expectClose } from './helpers/compare.ts';

const runtime = new Runtime({ threads: 1 });
after(() => runtime.release());

const f64 = (xs: number[] | number[][], dims: number[]): HostTensor => ({ data: Float64Array.from(xs.flat()), dims });
const i64 = (xs: number[], dims: number[]): HostTensor => ({ data: BigInt64Array.from(xs.map(BigInt)), dims });

/** A float64 graph: `logp` [B, T] as a trainable input -> the policy loss and its gradient w.r.t. logp. */
async function lossOnLogprobs(estimator: KlEstimator, B: number, T: number) {
  const g = new Graph(`loss_${estimator}`, 'float64');
  const logp = g.input('logp', [B, T], 'float64', true);
  const loss = policyLoss(estimator).build({ graph: g, logprobs_B_T1: logp, input: (n, s) => g.input(n, s) });
  const [dLogp] = grad(loss, [logp]);
  return runtime.compile(`rl-loss/${estimator}/B${B}/T${T}`, () => toOnnx(g, { loss, dLogp }));
}

// (a) a hand example: B = 2 rows, T' = 3 positions
const LOGP = [[-1000, -2, -0.5], [-0.3, -1.2, -4]]; // -1000 sits under the mask: k3 must not turn it into NaN
const MASK = [[0, 1, 1], [1, 1, 0]];
const REF = [[0, -1.5, -1.25], [-0.5, -0.9, 0]];
const ADV = [0.5, -0.25];
const COEF = [0.1, 0.2];
// S_b = sum mask logp = [-2.5, -1.5]; r = logp - ref on the mask: row 0 [-0.5, 0.75], row 1 [0.2, -0.3]
const PG = -(0.5 * -2.5 + -0.25 * -1.5); // 0.875
const k3 = (r: number) => Math.exp(-r) + r - 1;
const EXPECTED: Record<KlEstimator, { loss: number; dLogp: number[][] }> = {
  // KL_b = c_b sg(sum r) S_b, sum r = [0.25, -0.1]; d/dlogp = mask (c_b sum r_b - a_b)
  reward: { loss: PG + 0.1 * 0.25 * -2.5 + 0.2 * -0.1 * -1.5, dLogp: [[0, -0.475, -0.475], [0.23, 0.23, 0]] },
  // KL_b = c_b sum mask k3(r); d/dlogp = mask (-a_b + c_b (1 - exp(-r)))
  k3: {
    loss: PG + 0.1 * (k3(-0.5) + k3(0.75)) + 0.2 * (k3(0.2) + k3(-0.3)),
    dLogp: [
      [0, -0.5 + 0.1 * (1 - Math.exp(0.5)), -0.5 + 0.1 * (1 - Math.exp(-0.75))],
      [0.25 + 0.2 * (1 - Math.exp(-0.2)), 0.25 + 0.2 * (1 - Math.exp(0.3)), 0],
    ],
  },
  // KL_b = c_b sum mask r; d/dlogp = mask (c_b - a_b)
  literal: { loss: PG + 0.1 * 0.25 + 0.2 * -0.1, dLogp: [[0, -0.4, -0.4], [0.45, 0.45, 0]] },
};

for (const estimator of KL_ESTIMATORS) {
  test(`policy loss '${estimator}': value and d loss/d logp match the hand computation`, async () => {
    const session = await lossOnLogprobs(estimator, 2, 3);
    const out = await session.run({
      logp: f64(LOGP, [2, 3]),
      advantages: f64(ADV, [2]),
      token_mask: f64(MASK, [2, 3]),
      ref_logprobs: f64(REF, [2, 3]),
      kl_coef: f64(COEF, [2]),
    });
    const want = EXPECTED[estimator];
    expectClose(`${estimator} loss`, [out.loss.data[0] as number], [want.loss], 1e-12);
    expectClose(`${estimator} dloss/dlogp`, out.dLogp.data as Float64Array, want.dLogp.flat(), 1e-12);
  });
}

test('policy loss names carry the estimator; an unknown estimator is an error', () => {
  assert.deepEqual(KL_ESTIMATORS.map((e) => policyLoss(e).name), ['policy_reward', 'policy_k3', 'policy_literal']);
  assert.equal(policyLoss().name, 'policy_reward');
  assert.throws(() => policyLoss('k2' as KlEstimator), /KL estimator "k2"/);
});

test('klEstimate: mean per-sequence sums of log-ratios and of k3, honouring the mask', () => {
  const est = klEstimate(LOGP, REF, MASK);
  assert.ok(Math.abs(est.kl - (0.25 - 0.1) / 2) < 1e-12, `kl ${est.kl}`);
  assert.ok(Math.abs(est.k3 - (k3(-0.5) + k3(0.75) + k3(0.2) + k3(-0.3)) / 2) < 1e-12, `k3 ${est.k3}`);
  assert.deepEqual(klEstimate([[-1, -2]], [[-1.5, -1]]), { kl: 0.5 - 1 + 0, k3: k3(0.5) + k3(-1) });
  assert.deepEqual(klEstimate([], []), { kl: 0, k3: 0 });
  assert.throws(() => klEstimate([[-1, -2]], [[-1]]), /row 0 has 2 log-probs, 1 reference/);
  assert.throws(() => klEstimate([[-1]], [[-1], [-2]]), /1 log-prob rows, 2 reference rows/);
});

// (b) the categorical policy: V symbols, two tokens, the second's logits chosen by the first
const V = 5;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};
const uniform = (rng: Rng, n: number, scale: number) => range(n).map(() => (rng.next() * 2 - 1) * scale);

interface Categorical {
  z1: number[]; // [V]
  z2: number[][]; // [V][V], row y1
}
const rng0 = new Rng(7);
const POLICY: Categorical = { z1: uniform(rng0, V, 1.5), z2: range(V).map(() => uniform(rng0, V, 1.5)) };
const REFERENCE: Categorical = { z1: uniform(rng0, V, 1.5), z2: range(V).map(() => uniform(rng0, V, 1.5)) };
const probs = (c: Categorical) => ({ p1: softmax(c.z1), p2: c.z2.map(softmax) });

const kl = (p: number[], q: number[]) => p.reduce((a, pk, k) => a + pk * Math.log(pk / q[k]), 0);
/** d KL(softmax(z) || q) / dz_k = p_k (log(p_k / q_k) - KL). */
const dKlForward = (p: number[], q: number[]) => p.map((pk, k) => pk * (Math.log(pk / q[k]) - kl(p, q)));

/** The closed-form gradient each estimator claims for its expectation, flattened as [z1 (V), z2 (V*V)]. */
function claimedGradient(estimator: KlEstimator, tokens: 1 | 2): number[] {
  const pi = probs(POLICY);
  const ref = probs(REFERENCE);
  const zero = range(V + V * V).map(() => 0);
  if (estimator === 'literal') return zero;
  if (estimator === 'k3') {
    // per token, E_{y~pi}[(1 - ref/pi) grad log pi] = grad KL(ref || pi) = pi - ref, weighted by the prefix's pi
    const g1 = pi.p1.map((p, k) => p - ref.p1[k]);
    const g2 = range(V).flatMap((y) => pi.p2[y].map((p, k) => (tokens === 2 ? pi.p1[y] * (p - ref.p2[y][k]) : 0)));
    return [...g1, ...g2];
  }
  // reward: grad of the sequence KL(pi || ref) = KL1 + sum_y pi1(y) KL2(y)
  if (tokens === 1) return [...dKlForward(pi.p1, ref.p1), ...zero.slice(V)];
  const kl2 = range(V).map((y) => kl(pi.p2[y], ref.p2[y]));
  const kl2Mean = kl2.reduce((a, k, y) => a + pi.p1[y] * k, 0);
  const g1 = dKlForward(pi.p1, ref.p1).map((g, k) => g + pi.p1[k] * (kl2[k] - kl2Mean));
  const g2 = range(V).flatMap((y) => dKlForward(pi.p2[y], ref.p2[y]).map((g) => pi.p1[y] * g));
  return [...g1, ...g2];
}

/** Sequence KL(pi || ref) at policy logits z (flattened), on the host: for a finite-difference check of the claim. */
function sequenceKl(z: number[], tokens: 1 | 2): number {
  const pi = probs({ z1: z.slice(0, V), z2: range(V).map((y) => z.slice(V + y * V, V + (y + 1) * V)) });
  const ref = probs(REFERENCE);
  const first = kl(pi.p1, ref.p1);
  return tokens === 1 ? first : first + range(V).reduce((a, y) => a + pi.p1[y] * kl(pi.p2[y], ref.p2[y]), 0);
}

/** Float64 graph: logits z1, z2 (trainable) and sampled tokens y1, y2 [B] -> the policy loss and its gradients. */
async function categoricalLoss(estimator: KlEstimator, B: number) {
  const g = new Graph(`categorical_${estimator}`, 'float64');
  const z1 = g.input('z1', [V], 'float64', true);
  const z2 = g.input('z2', [V, V], 'float64', true);
  const y1 = g.input('y1', [B], 'int64');
  const y2 = g.input('y2', [B], 'int64');
  const lp1_B = tokenLogprobs(expand(reshape(z1, [1, V]), [B, V]), y1);
  const lp2_B = tokenLogprobs(embedding(z2, y1), y2);
  const logp_B_2 = concat([reshape(lp1_B, [B, 1]), reshape(lp2_B, [B, 1])], 1);
  const loss = policyLoss(estimator).build({ graph: g, logprobs_B_T1: logp_B_2, input: (n, s) => g.input(n, s) });
  const [d1, d2] = grad(loss, [z1, z2]);
  const session = await runtime.compile(`rl-categorical/${estimator}/B${B}`, () => toOnnx(g, { loss, d1, d2 }));
  const ref = probs(REFERENCE);
  const logp = (c: ReturnType<typeof probs>, a: number, b: number) => [Math.log(c.p1[a]), Math.log(c.p2[a][b])];
  /** The gradient of sum_b coef_b * KL-term(sequence b) w.r.t. [z1, z2], flattened. */
  return async (seqs: [number, number][], coef: number[], tokens: 1 | 2): Promise<number[]> => {
    const out = await session.run({
      z1: f64(POLICY.z1, [V]),
      z2: f64(POLICY.z2, [V, V]),
      y1: i64(seqs.map((s) => s[0]), [B]),
      y2: i64(seqs.map((s) => s[1]), [B]),
      advantages: f64(range(B).map(() => 0), [B]),
      kl_coef: f64(coef, [B]),
      token_mask: f64(seqs.map(() => (tokens === 2 ? [1, 1] : [1, 0])), [B, 2]),
      ref_logprobs: f64(seqs.map(([a, b]) => logp(ref, a, b)), [B, 2]),
    });
    return [...(out.d1.data as Float64Array), ...(out.d2.data as Float64Array)];
  };
}

const ALL_SEQUENCES = range(V * V).map((i): [number, number] => [Math.floor(i / V), i % V]);
const maxAbs = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

test('categorical: the claimed closed forms are gradients of what they say (finite differences)', () => {
  for (const tokens of [1, 2] as const) {
    const z = [...POLICY.z1, ...POLICY.z2.flat()];
    const numeric = z.map((_, i) => {
      const h = 1e-6;
      const up = [...z];
      const down = [...z];
      up[i] += h;
      down[i] -= h;
      return (sequenceKl(up, tokens) - sequenceKl(down, tokens)) / (2 * h);
    });
    expectClose(`grad KL(pi||ref), ${tokens} token(s)`, claimedGradient('reward', tokens), numeric, 1e-7);
  }
});

for (const tokens of [1, 2] as const) {
  test(`categorical, ${tokens} token(s): each estimator's exact expected gradient is the one it claims`, async () => {
    const pi = probs(POLICY);
    const weights = ALL_SEQUENCES.map(([a, b]) => pi.p1[a] * pi.p2[a][b]);
    for (const estimator of KL_ESTIMATORS) {
      const gradient = await categoricalLoss(estimator, ALL_SEQUENCES.length);
      const expected = await gradient(ALL_SEQUENCES, weights, tokens);
      const claimed = claimedGradient(estimator, tokens);
      const diff = maxAbs(expected, claimed);
      console.log(`  ${estimator}: max |E[grad] - claimed| ${diff.toExponential(2)}`);
      assert.ok(diff < 1e-12, `${estimator}, ${tokens} token(s): max difference ${diff}`);
    }
    // the claims are distinct: k3 is not the gradient of KL(pi || ref) here, and literal's zero is not either
    const forward = claimedGradient('reward', tokens);
    assert.ok(maxAbs(claimedGradient('k3', tokens), forward) > 0.05, 'k3 and reward claims should differ on this policy');
    assert.ok(maxAbs(forward, claimedGradient('literal', tokens)) > 0.05, 'grad KL should be far from 0 on this policy');
  });
}

/** n seeded samples (y1, y2) from the policy. */
function sample(n: number, seed: number): [number, number][] {
  const rng = new Rng(seed);
  const pi = probs(POLICY);
  const draw = (p: number[]) => {
    let u = rng.next();
    for (let k = 0; k < p.length - 1; k++) if ((u -= p[k]) < 0) return k;
    return p.length - 1;
  };
  return range(n).map(() => {
    const a = draw(pi.p1);
    return [a, draw(pi.p2[a])];
  });
}

test('categorical, 2 tokens: the mean gradient over 20k samples from pi matches each claim within 5 standard errors', async () => {
  const n = 20000;
  const samples = sample(n, 11);
  const pi = probs(POLICY);
  for (const estimator of KL_ESTIMATORS) {
    const perSequence = await categoricalLoss(estimator, 1);
    // exact per-component standard error of the mean of n samples: sqrt(Var[g] / n)
    const gradients = await Promise.all(ALL_SEQUENCES.map((s) => perSequence([s], [1], 2)));
    const mean = claimedGradient(estimator, 2);
    const se = mean.map((m, i) => Math.sqrt(ALL_SEQUENCES.reduce((a, [y1, y2], s) => a + pi.p1[y1] * pi.p2[y1][y2] * (gradients[s][i] - m) ** 2, 0) / n));
    const batch = await categoricalLoss(estimator, n);
    const sampled = await batch(samples, range(n).map(() => 1 / n), 2);
    const z = sampled.map((g, i) => (se[i] > 0 ? Math.abs(g - mean[i]) / se[i] : Math.abs(g - mean[i]) / 1e-12));
    const worst = Math.max(...z);
    console.log(`  ${estimator}: max |sample mean - claimed| ${maxAbs(sampled, mean).toExponential(2)} = ${worst.toFixed(2)} standard errors`);
    assert.ok(worst < 5, `${estimator}: sample mean is ${worst.toFixed(2)} standard errors from the claim`);
    if (estimator === 'literal') {
      // the test can tell: grad KL is many standard errors away from what literal produces
      const forward = claimedGradient('reward', 2);
      const away = Math.max(...sampled.map((g, i) => Math.abs(g - forward[i]) / Math.max(se[i], 1e-12)));
      assert.ok(away > 20, `literal's sample mean is only ${away.toFixed(1)} standard errors from grad KL`);
    }
  }
});

// (c) a tiny Llama (test/fixtures/llama-gqa): rows = prompt + sampled completion, the loss covers the completion
const fixture = path.join(import.meta.dirname, 'fixtures', 'llama-gqa');
const SEQUENCES = [[1, 5, 9, 13, 2, 40, 41], [1, 7, 3, 30, 31, 32, 33, 34, 2], [1, 11, 20, 21]];
const PROMPT_LENGTHS = [4, 3, 2];

/** Per-token effective advantage: the weight w_bt with d loss = -sum_bt w_bt grad logp_bt, from host log-probs. */
function effectiveWeights(estimator: KlEstimator, lp: number[][], ref: number[][], mask: number[][], adv: number[], coef: number[]) {
  return lp.map((row, b) => {
    const seqLogRatio = row.reduce((a, x, t) => a + mask[b][t] * (x - ref[b][t]), 0);
    return row.map((x, t) => {
      const kl = { reward: coef[b] * seqLogRatio, k3: coef[b] * (1 - Math.exp(ref[b][t] - x)), literal: coef[b] }[estimator];
      return mask[b][t] * (adv[b] - kl);
    });
  });
}

/** The loss value computed on the host from the same log-probs. */
function hostLoss(estimator: KlEstimator, lp: number[][], ref: number[][], mask: number[][], adv: number[], coef: number[]): number {
  return lp.reduce((total, row, b) => {
    const r = row.map((x, t) => mask[b][t] * (x - ref[b][t]));
    const S = row.reduce((a, x, t) => a + mask[b][t] * x, 0);
    const R = r.reduce((a, x) => a + x, 0);
    const kl = { reward: coef[b] * R * S, k3: coef[b] * r.reduce((a, x, t) => a + mask[b][t] * k3(x), 0), literal: coef[b] * R }[estimator];
    return total - adv[b] * S + kl;
  }, 0);
}

test('tiny Llama: the policy loss gradient equals the REINFORCE-plus-KL gradient through weighted NLL', async () => {
  const cfg = loadModelConfig(fixture);
  const engine = new ModelEngine(cfg, loadModelWeights(fixture, cfg).weights, runtime, 'rl-llama');
  const batch = padBatch(SEQUENCES, cfg.vocabSize);
  const { B, T } = batch;
  const W = T - 1;
  const host = (await engine.logprobs(SEQUENCES)).map((row) => range(W).map((t) => (row[t + 1] ?? 0) as number));
  const mask = SEQUENCES.map((seq, b) => range(W).map((t) => (t + 1 >= PROMPT_LENGTHS[b] && t + 1 < seq.length ? 1 : 0)));
  const rng = new Rng(3);
  const ref = host.map((row, b) => row.map((x, t) => (mask[b][t] ? x + (rng.next() - 0.5) : 0)));
  const adv = [0.3, -0.2, -0.1];
  const coef = [0.05, 0.02, 0.08];
  const f32 = (xs: number[] | number[][], dims: number[]): HostTensor => ({ data: Float32Array.from(xs.flat()), dims });
  const inputs = { advantages: f32(adv, [B]), kl_coef: f32(coef, [B]), token_mask: f32(mask, [B, W]), ref_logprobs: f32(ref, [B, W]) };
  for (const estimator of KL_ESTIMATORS) {
    const step = await engine.trainStep(batch, policyLoss(estimator), inputs);
    expectClose(`${estimator} loss`, [step.loss], [hostLoss(estimator, host, ref, mask, adv, coef)], 1e-5);
    const weights = effectiveWeights(estimator, host, ref, mask, adv, coef);
    const nll = await engine.trainStep(batch, weightedNll, { token_weights: f32(weights, [B, W]) });
    assert.equal(step.grads.size, nll.grads.size);
    const ours = [...step.grads.values()].flatMap((g) => [...g]);
    const reference = [...step.grads.keys()].flatMap((name) => [...nll.grads.get(name)!]);
    expectClose(`${estimator} gradient (all ${step.grads.size} parameters)`, ours, reference, 1e-4);
    assert.ok(reference.some((x) => Math.abs(x) > 1e-4), 'the reference gradient is not trivially zero');
  }
});
