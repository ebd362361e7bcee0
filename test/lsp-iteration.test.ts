/**
 * The glue of one iteration (src/train/lsp-iteration.ts through src/backend/): what it sends to the train step.
 *
 * The iteration runs on a LocalBackend (src/backend/local.ts). A spy on the backend interface records the rows each
 * forwardBackward gets and what optimStep is asked; below it, a spy on the policy engine's trainStep records every
 * micro-batch's loss inputs and a spy on the backend's optimizer records the gradient it is given. From the rewards the iteration logged (and, in LSP, scripted judge scores), the test
 * recomputes by hand, with the paper's formulas written out here, the per-row advantage and KL coefficient:
 *   solver row (i, j):  advantage A_sol(i, j) / (N G),       kl_coef beta_sol / (N G)
 *   challenger row i:   advantage alpha_ch A_ch(i) / N,      kl_coef alpha_ch beta_ch / N
 *   A_sol = R_sol - mean_j R_sol, R_sol = R + w R_Q / 7 (LSP) or R;  A_ch = r_ch - mean_i r_ch,
 *   r_ch = -mean_j R + w mean_j R_Q / 7 (LSP) or -mean_j R
 * and checks that the optimizer gets the sum of the solver and challenger gradients. Betas, alpha_ch and w are all
 * different, so swapping any two of them (or dropping a normaliser) changes a number the test pins.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { TrainRow } from '../src/backend/backend.ts';
import { backendCompleter } from '../src/backend/chat.ts';
import { LocalBackend } from '../src/backend/local.ts';
import type { Completion } from '../src/generate/chat.ts';
import type { RewardSource } from '../src/game/rollout.ts';
import type { PaddedBatch } from '../src/model/engine.ts';
import type { HostTensor } from '../src/runtime/runtime.ts';
import { type Mode, resolveConfig } from '../src/rl/config.ts';
import { POLICY_INPUTS } from '../src/rl/losses.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { runIteration } from '../src/train/lsp-iteration.ts';
import { runSettings } from '../src/train/settings.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const model = tinyWorldModel(5);
const runtime = new Runtime({ threads: 1 });
after(() => runtime.release());

const N = 3;
const G = 2;
const BETA_SOL = 0.03;
const BETA_CH = 0.11;
const ALPHA_CH = 0.6;
const W = 0.8;

/** R depends on the position (i, j) only, with spread inside and across groups. */
const positionReward: RewardSource = {
  name: 'position',
  score: async (_q, answers_N_G) => answers_N_G.map((g, i) => g.map((_, j) => ((3 * i + 2 * j) % 5) / 4)),
};
/** The scripted judge's score of the k-th (query, answer) pair, in row-major order. */
const judgeScore = (k: number) => (5 * k + 1) % 8;

interface Call {
  B: number;
  advantages: number[];
  klCoef: number[];
  maskRows: number[];
  grads: Map<string, Float32Array>;
}

function settingsFor(mode: Mode) {
  const c = resolveConfig(
    {
      model, out: '/nonexistent', mode, N, G, seed: 11, microBatch: 4, alphaCh: ALPHA_CH, betaSolver: BETA_SOL, betaChallenger: BETA_CH,
      ...(mode === 'lsp' ? { selfRewardWeight: W } : {}), ...(mode === 'grpo' ? { promptsFile: '/unused.jsonl' } : {}),
    },
    { sampling: { challenger: { maxTokens: 6 }, solver: { maxTokens: 6 }, judge: { maxTokens: 4 } } },
  );
  const s = runSettings({ ...c, promptsFile: null }, runtime, 1);
  return mode === 'grpo' ? { ...s, prompts: ['reverse: a b c', 'count the words: x y', 'repeat twice: q'] } : s;
}

/** One iteration with spies on the train step, the optimizer and (in LSP) the judge; returns what they saw. */
async function spiedIteration(mode: Mode) {
  const s = settingsFor(mode);
  const backend = new LocalBackend({ model, chatTemplate: null, lora: null, seed: s.seed, runtime, adam: { lr: 1e-3, weightDecay: 0, gradClip: 0 } });
  backend.start();
  const policy = backend.policyModel;
  // the interface: rows per forwardBackward call (solver, then challenger) and the one optimStep
  const fbRows: TrainRow[][] = [];
  const forwardBackward = backend.forwardBackward.bind(backend);
  backend.forwardBackward = async (rows, loss, microBatch) => {
    fbRows.push(rows.map((r) => ({ ...r })));
    return forwardBackward(rows, loss, microBatch);
  };
  const optimSteps: { lr: number; skip: boolean | undefined; applied: boolean }[] = [];
  const optimStep = backend.optimStep.bind(backend);
  backend.optimStep = async (params, skip) => {
    const r = await optimStep(params, skip);
    optimSteps.push({ lr: params.learningRate, skip, applied: r.applied });
    return r;
  };
  const calls: Call[] = [];
  const record = (batch: PaddedBatch, inputs: Record<string, HostTensor>, grads: Map<string, Float32Array>, W1: number) => {
    const mask = [...inputs[POLICY_INPUTS.tokenMask].data as Float32Array];
    calls.push({
      B: batch.B,
      advantages: [...inputs[POLICY_INPUTS.advantages].data as Float32Array],
      klCoef: [...inputs[POLICY_INPUTS.klCoef].data as Float32Array],
      maskRows: Array.from({ length: batch.B }, (_, b) => mask.slice(b * W1, (b + 1) * W1).reduce((a, v) => a + v, 0)),
      grads: new Map([...grads].map(([n, g]) => [n, Float32Array.from(g)])), // copied: buffers may be reused
    });
  };
  const trainStep = policy.engine.trainStep.bind(policy.engine);
  policy.engine.trainStep = async (batch: PaddedBatch, loss, inputs: Record<string, HostTensor>, trainable) => {
    const result = await trainStep(batch, loss, inputs, trainable);
    record(batch, inputs, result.grads, batch.T - 1); // entry t predicts token t + 1
    return result;
  };
  // rows whose prompts share a long prefix (the challenger's Box 1 text) go through the shared-prefix graph
  const trainStepShared = policy.engine.trainStepShared.bind(policy.engine);
  policy.engine.trainStepShared = async (prefix: number[], batch: PaddedBatch, loss, inputs: Record<string, HostTensor>, trainable) => {
    const result = await trainStepShared(prefix, batch, loss, inputs, trainable);
    record(batch, inputs, result.grads, batch.T); // entry t predicts row token t
    return result;
  };
  let judged = 0;
  const reference = {
    complete: async (texts: readonly string[]): Promise<Completion[]> =>
      texts.map(() => ({ text: `<Score>${judgeScore(judged++)}</Score>`, promptIds: [], tokens: [], logprobs: [], finishReason: 'eos' as const })),
  };
  const optimizer = backend.optimizer;
  let stepped: Map<string, Float32Array> | null = null;
  const step = optimizer.step.bind(optimizer);
  optimizer.step = (params, grads, lr) => {
    stepped = new Map([...grads].map(([n, g]) => [n, Float32Array.from(g)]));
    return step(params, grads, lr);
  };
  const models = { backend, policy: backendCompleter(backend.referenceModel, backend.policy), reference, reward: positionReward };
  const result = await runIteration(s, models, 0);
  return { s, result, calls, fbRows, optimSteps, stepped: stepped as Map<string, Float32Array> | null };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** x - mean(x), or exactly 0 when all entries are equal (no signal). */
const centred = (xs: number[]) => (xs.every((x) => x === xs[0]) ? xs.map(() => 0) : xs.map((x) => x - mean(xs)));

function expectedRows(mode: Mode, samples: { answers: { reward: number; self_score?: number }[] }[]) {
  const R = samples.map((q) => q.answers.map((a) => a.reward));
  const RQ = mode === 'lsp' ? samples.map((_, i) => Array.from({ length: G }, (_, j) => judgeScore(i * G + j))) : null;
  const Rsol = R.map((g, i) => g.map((r, j) => r + (RQ ? (W * RQ[i][j]) / 7 : 0)));
  const solver = Rsol.flatMap((g) => centred(g).map((a) => ({ advantage: a / (N * G), klCoef: BETA_SOL / (N * G) })));
  const rCh = R.map((g, i) => -mean(g) + (RQ ? (W * mean(RQ[i])) / 7 : 0));
  const challenger = mode === 'grpo' ? [] : centred(rCh).map((a) => ({ advantage: (ALPHA_CH * a) / N, klCoef: (ALPHA_CH * BETA_CH) / N }));
  return { solver, challenger, R };
}

function assertClose(got: number[], want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} rows, expected ${want.length}`);
  const diff = Math.max(0, ...got.map((g, i) => Math.abs(g - want[i])));
  assert.ok(diff <= 1e-7, `${what}: max diff ${diff}\n got  ${got.join(', ')}\n want ${want.join(', ')}`);
}

for (const mode of ['lsp', 'lsp-zero', 'grpo'] as const) {
  test(`one ${mode} iteration sends the exact per-row advantages and KL coefficients, and steps on the summed gradient`, async () => {
    const { s, result, calls, fbRows, optimSteps, stepped } = await spiedIteration(mode);
    const samples = result.samples as { query: string; answers: { answer: string; reward: number; self_score?: number }[] }[];
    const want = expectedRows(mode, samples);
    assert.deepEqual(samples.map((q) => q.answers.map((a) => a.reward)), want.R, 'the logged rewards are the reward source\'s');
    if (mode === 'lsp') assert.deepEqual(samples.flatMap((q) => q.answers.map((a) => a.self_score)), Array.from({ length: N * G }, (_, k) => judgeScore(k)));
    // micro-batches of 4: the N G = 6 solver rows in two calls (4 + 2), then the N = 3 challenger rows in one
    assert.deepEqual(calls.map((c) => c.B), mode === 'grpo' ? [4, 2] : [4, 2, 3]);
    const solverCalls = calls.slice(0, 2);
    const challengerCalls = calls.slice(2);
    assertClose(solverCalls.flatMap((c) => c.advantages), want.solver.map((r) => r.advantage), `${mode} solver advantages A_sol/(N G)`);
    assertClose(solverCalls.flatMap((c) => c.klCoef), want.solver.map((r) => r.klCoef), `${mode} solver kl_coef beta_sol/(N G)`);
    assertClose(challengerCalls.flatMap((c) => c.advantages), want.challenger.map((r) => r.advantage), `${mode} challenger advantages alpha_ch A_ch/N`);
    assertClose(challengerCalls.flatMap((c) => c.klCoef), want.challenger.map((r) => r.klCoef), `${mode} challenger kl_coef alpha_ch beta_ch/N`);
    assert.ok(want.solver.some((r) => r.advantage !== 0), 'the solver has signal');
    if (mode !== 'grpo') assert.ok(want.challenger.some((r) => r.advantage !== 0), 'the challenger has signal');
    // the same rows, as the backend interface received them: solver rows in one call, challenger rows in another
    assert.equal(fbRows.length, mode === 'grpo' ? 1 : 2, 'one forwardBackward per role');
    assertClose(fbRows[0].map((r) => r.advantage), want.solver.map((r) => r.advantage), `${mode} forwardBackward solver advantages`);
    assertClose(fbRows[0].map((r) => r.klCoef), want.solver.map((r) => r.klCoef), `${mode} forwardBackward solver kl_coef`);
    assertClose(fbRows.slice(1).flat().map((r) => r.advantage), want.challenger.map((r) => r.advantage), `${mode} forwardBackward challenger advantages`);
    assertClose(fbRows.slice(1).flat().map((r) => r.klCoef), want.challenger.map((r) => r.klCoef), `${mode} forwardBackward challenger kl_coef`);
    assert.deepEqual(optimSteps, [{ lr: s.lr, skip: false, applied: true }], 'one optimStep at the run\'s learning rate, applied');
    // every row has sampled tokens under its mask (an empty mask would make its advantage a no-op)
    for (const c of calls) for (const m of c.maskRows) assert.ok(m >= 1, `a row with ${m} masked tokens`);
    // the optimizer steps on the sum of every micro-batch's gradient, solver and challenger alike
    assert.ok(stepped, 'the optimizer stepped');
    let maxDiff = 0;
    for (const [name, g] of stepped!) {
      const sum = new Float64Array(g.length);
      for (const c of calls) c.grads.get(name)?.forEach((v, i) => (sum[i] += v));
      g.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - sum[i]) / Math.max(1, Math.abs(sum[i])))));
    }
    assert.ok(maxDiff <= 1e-5, `stepped gradient vs the sum of the train steps' gradients: max diff ${maxDiff}`);
    assert.equal(stepped!.size, calls[0].grads.size);
  });
}
