import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { RewardSource } from '../src/game/rollout.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { runSettings } from '../src/train/settings.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { readJsonl } from '../src/train/run-folder.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';
import { writeChatFolder } from './helpers/chat-folder.ts';
import { RewardModel } from '../src/model/reward-model.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { periodicSolverEval, solverAccuracySlice } from '../src/eval/world-quality.ts';

const model = tinyWorldModel();
/** A reward with spread on any text (the random tiny model never writes a valid world query). */
const lengthReward: RewardSource = {
  name: 'length',
  score: async (_q, answers_N_G) => answers_N_G.map((g) => g.map((a) => (a.length % 5) / 4)),
};

function settings(out: string, iterations: number, extra: Record<string, unknown> = {}) {
  const c = resolveConfig(
    { model, out, iterations, N: 3, G: 2, lr: 1e-2, checkpointEvery: 1, quiet: true, seed: 7, ...extra },
    { sampling: { challenger: { maxTokens: 8 }, solver: { maxTokens: 8 }, judge: { maxTokens: 12 } } },
  );
  return { ...runSettings(c, new Runtime({ threads: 1 }), 1), reward: lengthReward };
}

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `lsp-${name}-`));

test('lsp smoke: 2 iterations, every parameter tensor moves, all metrics finite, run folder complete', async () => {
  const out = tmp('smoke');
  const base = settings(out, 2, { evalEvery: 2 });
  const evalRuntime = new Runtime({ threads: 1 });
  let evalCalls = 0;
  const worldEval = periodicSolverEval(base)!;
  const done = await train({ ...base, periodicEval: (policy) => (evalCalls++, worldEval(policy)) });
  assert.equal(done, path.join(out, 'model'));
  const before = loadModelFolder(model).weights;
  const after = loadModelFolder(done!).weights;
  const unchanged = [...before].filter(([name, w]) => w.every((v, i) => v === after.get(name)![i])).map(([n]) => n);
  assert.deepEqual(unchanged, [], `parameters that did not change: ${unchanged.join(', ')}`);
  const metrics = readJsonl(path.join(out, 'metrics.jsonl'));
  assert.equal(metrics.length, 2);
  for (const m of metrics) {
    for (const key of ['solver/reward/mean', 'challenger/reward/mean', 'selfreward/mean', 'selfreward/parse_fail', 'kl/solver', 'kl/challenger', 'loss/solver', 'loss/challenger', 'grad_norm', 'sampling/logp_diff', 'frac_reward_zero_std', 'tokens_per_s', 'time/train']) {
      assert.ok(Number.isFinite(m[key]), `${key} = ${m[key]}`);
    }
    assert.ok((m['sampling/logp_diff'] as number) <= 1e-4, `sampler vs train log-probs differ by ${m['sampling/logp_diff']}`);
  }
  assert.equal(readJsonl(path.join(out, 'samples.jsonl')).length, 2 * 3);
  assert.equal(metrics[0]['eval/solver_accuracy'], undefined, 'evaluated only every evalEvery iterations');
  assert.equal(evalCalls, 1, 'the periodic eval ran once, after iteration 2');
  // after iteration 2 the policy is the final model: the logged accuracy is that model's on the same slice
  const want = await solverAccuracySlice(ChatModel.load(done!, evalRuntime, 'model'), 10, base.seed);
  for (const [k, v] of Object.entries(want)) assert.equal(metrics[1][k], v, `${k} logged at iteration 2`);
  await evalRuntime.release();
  assert.ok(fs.existsSync(path.join(out, 'checkpoints', 'iter-000002', 'optimizer.safetensors')));
});

test('lsp resume: 4 iterations straight equal 2, stop, resume to 4 (metrics and weights)', async () => {
  const a = tmp('straight');
  const b = tmp('resumed');
  await train(settings(a, 4, { mode: 'lsp-zero' }));
  // the first half ends at iteration 2 as a finished 2-iteration run; then the same folder continues to 4
  assert.equal(await train(settings(b, 2, { mode: 'lsp-zero' })), path.join(b, 'model'));
  assert.deepEqual(readJsonl(path.join(b, 'metrics.jsonl')).map((m) => m.iteration), [1, 2], 'the first half logged iterations 1 and 2');
  await train(settings(b, 4, { mode: 'lsp-zero' }));
  const ma = readJsonl(path.join(a, 'metrics.jsonl'));
  const mb = readJsonl(path.join(b, 'metrics.jsonl'));
  assert.equal(mb.length, 4);
  const skip = (k: string) => k.startsWith('time/') || k === 'tokens_per_s';
  let maxDiff = 0;
  ma.forEach((m, i) => {
    for (const [k, v] of Object.entries(m)) if (!skip(k) && typeof v === 'number' && Number.isFinite(v)) maxDiff = Math.max(maxDiff, Math.abs(v - (mb[i][k] as number)));
  });
  assert.ok(maxDiff <= 1e-6, `metrics differ after resume, max diff ${maxDiff}`);
  const wa = loadModelFolder(path.join(a, 'model')).weights;
  const wb = loadModelFolder(path.join(b, 'model')).weights;
  let maxW = 0;
  for (const [name, w] of wa) w.forEach((v, i) => (maxW = Math.max(maxW, Math.abs(v - wb.get(name)![i]))));
  assert.ok(maxW <= 1e-6, `weights differ after resume, max diff ${maxW}`);
});

test('lsp non-finite: a NaN reward skips the update (weights untouched, logged) or stops the run, per config', async () => {
  const nanReward: RewardSource = { name: 'nan', score: async (_q, a) => a.map((g) => g.map((_, j) => (j === 0 ? NaN : 0.5))) };
  const out = tmp('nan');
  // a run whose every update was skipped is a failure, not "done": no model/ is written
  await assert.rejects(train({ ...settings(out, 1), reward: nanReward }), /without a single applied update/);
  assert.ok(!fs.existsSync(path.join(out, 'model')), 'no model/ for a run that never updated');
  const m = readJsonl(path.join(out, 'metrics.jsonl'))[0];
  assert.equal(m.updated, false);
  const before = loadModelFolder(model).weights;
  const after = loadModelFolder(path.join(out, 'checkpoints', 'iter-000001')).weights;
  for (const [name, w] of before) assert.ok(w.every((v, i) => v === after.get(name)![i]), `${name} changed`);
  await assert.rejects(train({ ...settings(tmp('nan-stop'), 2, { onNonfinite: 'stop' }), reward: nanReward }), /not finite/);
});

test('lsp with reward-model:DIR: R is the reward model score of each (query, answer) pair', async () => {
  const rmDir = writeChatFolder({ seed: 3, config: { architectures: ['LlamaForSequenceClassification'], num_labels: 1, max_position_embeddings: 1024 } });
  const out = tmp('rm');
  const runtime = new Runtime({ threads: 1 });
  const c = resolveConfig(
    { model, out, iterations: 1, N: 2, G: 2, quiet: true, seed: 3, mode: 'lsp-zero', rewardSource: `reward-model:${rmDir}` },
    { sampling: { challenger: { maxTokens: 6 }, solver: { maxTokens: 6 } } },
  );
  await train(runSettings(c, runtime, 1));
  const samples = readJsonl(path.join(out, 'samples.jsonl')) as { query: string; answers: { answer: string; reward: number }[] }[];
  const rm = RewardModel.load(rmDir, runtime);
  const pairs = samples.flatMap((s) => s.answers.map((a) => ({ prompt: s.query, response: a.answer.trim() })));
  const want = await rm.score(pairs);
  const got = samples.flatMap((s) => s.answers.map((a) => a.reward));
  const diff = Math.max(...want.map((w, i) => Math.abs(w - got[i])));
  assert.ok(diff <= 1e-6, `loop rewards vs RewardModel.score: max diff ${diff}`);
  assert.ok(new Set(got).size > 1, 'rewards vary');
  await runtime.release();
});

test('lsp with LoRA: only the adapters train; checkpoints carry only the adapter; the final model is the merge', async () => {
  const out = tmp('lora');
  const lora = { rank: 2, alpha: 4, targets: ['q_proj', 'v_proj'] as ('q_proj' | 'v_proj')[] };
  const done = await train(settings(out, 2, { lora }));
  const ckpt = path.join(out, 'checkpoints', 'iter-000002');
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'state.json']) {
    assert.ok(fs.existsSync(path.join(ckpt, f)), `checkpoint has ${f}`);
  }
  assert.ok(!fs.existsSync(path.join(ckpt, 'model.safetensors')), 'a LoRA checkpoint does not copy the frozen base');
  const base = loadModelFolder(model).weights;
  // resuming the LoRA run from its adapter-only checkpoint gives the straight run's result
  const straight = tmp('lora-straight');
  const b = tmp('lora-resumed');
  await train(settings(straight, 3, { lora }));
  await train(settings(b, 2, { lora }));
  await train(settings(b, 3, { lora }));
  const ws = loadModelFolder(path.join(straight, 'model')).weights;
  const wb = loadModelFolder(path.join(b, 'model')).weights;
  let maxW = 0;
  for (const [name, w] of ws) w.forEach((v, i) => (maxW = Math.max(maxW, Math.abs(v - wb.get(name)![i]))));
  assert.ok(maxW <= 1e-6, `LoRA weights differ after resume, max diff ${maxW}`);
  const merged = loadModelFolder(done!).weights;
  const moved = [...base].filter(([name, w]) => w.some((v, i) => v !== merged.get(name)![i])).map(([n]) => n.split('.').slice(-2, -1)[0]);
  assert.deepEqual([...new Set(moved)].sort(), ['q_proj', 'v_proj'], 'only adapted projections differ after the merge');
  assert.ok(fs.existsSync(path.join(out, 'adapter', 'adapter_config.json')));
});
