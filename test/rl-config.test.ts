/** The training config (src/rl/config.ts, src/rl/config-flags.ts): defaults, files, flags, unknown keys, conflicts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { InputError } from '../src/errors.ts';
import { CHALLENGER_PROMPT, JUDGE_PROMPT } from '../src/prompts/paper.ts';
import { loadConfigFile, resolveConfig, trainConfigSchema } from '../src/rl/config.ts';
import { configFlags, overridesFromFlags } from '../src/rl/config-flags.ts';

const NOW = new Date('2025-11-25T10:06:43Z');
const resolve = (file: unknown, flags: unknown = {}) => resolveConfig(file, flags, { fileName: 'run.yaml', now: NOW });

/** Asserts `fn` throws an InputError whose message matches every pattern. */
function throwsInput(fn: () => unknown, ...patterns: RegExp[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('defaults: a short LSP run on models/default, the paper prompts, per-role sampling', () => {
  const c = resolve({});
  assert.equal(c.model, 'models/default');
  assert.equal(c.mode, 'lsp');
  assert.deepEqual([c.iterations, c.N, c.G, c.alphaCh, c.betaSolver, c.betaChallenger, c.lr], [20, 8, 4, 1, 0.05, 0.05, 1e-5]);
  assert.equal(c.klEstimator, 'reward');
  assert.equal(c.selfRewardWeight, 1);
  assert.equal(c.selfRewardFallback, 0);
  assert.equal(c.challengerPrompt, CHALLENGER_PROMPT);
  assert.equal(c.judgePrompt, JUDGE_PROMPT);
  assert.deepEqual(c.sampling.solver, { temperature: 1, topP: 1, topK: 0, maxTokens: 64 });
  assert.deepEqual(c.sampling.judge, { temperature: 0.01, topP: 1, topK: 0, maxTokens: 128 });
  assert.equal(c.tasks, 'all');
  assert.equal(c.lora, null);
  assert.equal(c.out, path.join('runs', 'lsp-20251125-100643'));
  assert.ok(!('beta' in c), 'beta is expanded, not kept');
  assert.deepEqual(resolveConfig(undefined, undefined, { now: NOW }), c, 'no file, no flags');
});

test('every field has a one-line reason', () => {
  const missing = Object.entries(trainConfigSchema.shape).filter(([k, s]) => !s.description && k !== 'sampling').map(([k]) => k);
  assert.deepEqual(missing, []);
  for (const f of configFlags()) assert.ok(f.description.length > 10, `${f.flag}: ${f.description}`);
});

test('flags override the file; nested sampling merges key by key', () => {
  const c = resolve({ N: 4, lr: 3e-6, sampling: { solver: { temperature: 0.7, maxTokens: 32 } } }, { N: 2, sampling: { solver: { temperature: 0.9 } } });
  assert.equal(c.N, 2);
  assert.equal(c.lr, 3e-6);
  assert.deepEqual(c.sampling.solver, { temperature: 0.9, topP: 1, topK: 0, maxTokens: 32 });
  assert.deepEqual(c.sampling.challenger, { temperature: 1, topP: 1, topK: 0, maxTokens: 64 });
});

test('beta sets both roles; a role beta wins in its layer; a flag beta overrides the file role betas', () => {
  assert.deepEqual(pick(resolve({ beta: 0.1 })), [0.1, 0.1]);
  assert.deepEqual(pick(resolve({ beta: 0.1, betaChallenger: 0.3 })), [0.1, 0.3]);
  assert.deepEqual(pick(resolve({ betaChallenger: 0.3 }, { beta: 0.02 })), [0.02, 0.02]);
  assert.deepEqual(pick(resolve({ beta: 0.02 }, { betaChallenger: 0.5 })), [0.02, 0.5]);
});
const pick = (c: { betaSolver: number; betaChallenger: number }) => [c.betaSolver, c.betaChallenger];

test('unknown keys are errors naming the key (and the known spelling)', () => {
  throwsInput(() => resolve({ alpha_ch: 1 }), /run\.yaml: unknown setting "alpha_ch" \(did you mean "alphaCh"\?\)/);
  throwsInput(() => resolve({ sampling: { solver: { temprature: 1 } } }), /run\.yaml: unknown setting "sampling\.solver\.temprature"/);
  throwsInput(() => resolve({ lora: { rank: 4, alpha: 8, targets: ['q_proj'], dropout: 0.1 } }), /unknown setting "lora\.dropout"/);
  throwsInput(() => resolve({}, { bogus: true }), /command line: unknown setting "bogus"/);
});

test('bad values name the source and the field', () => {
  throwsInput(() => resolve({ G: 1 }), /run\.yaml: G: G must be >= 2/);
  throwsInput(() => resolve({ microBatch: 0 }), /run\.yaml: microBatch: /);
  throwsInput(() => resolve({ mode: 'ppo' }), /run\.yaml: mode: /);
  throwsInput(() => resolve({ klEstimator: 'k2' }), /klEstimator/);
  throwsInput(() => resolve({ rewardSource: 'model' }), /rewardSource: expected 'verifier', 'reward-model:DIR' or 'judge:openai:/);
  throwsInput(() => resolve({ selfRewardFallback: 8 }), /selfRewardFallback/);
  throwsInput(() => resolve({ tasks: ['reverse', 'juggle'] }), /tasks: expected 'all' .*a list of families \(reverse/);
  throwsInput(() => resolve({ sampling: { judge: { topP: 0 } } }), /sampling\.judge\.topP/);
  throwsInput(() => resolve([1, 2]), /run\.yaml: expected a mapping of settings, got a list/);
  assert.equal(resolve({ microBatch: 1000 }).microBatch, 1000, 'a micro-batch larger than N*G is fine');
});

test('conflicting settings are errors naming both fields', () => {
  throwsInput(() => resolve({ mode: 'grpo' }), /mode: grpo needs promptsFile/);
  throwsInput(() => resolve({ promptsFile: 'p.jsonl' }), /promptsFile is only read in mode grpo, but mode is lsp/);
  throwsInput(() => resolve({ mode: 'lsp-zero', selfRewardWeight: 0.5 }), /selfRewardWeight 0.5 has no effect in mode lsp-zero/);
  throwsInput(() => resolve({ mode: 'lsp-zero' }, { selfRewardWeight: 2 }), /selfRewardWeight 2 .* mode lsp-zero/);
  throwsInput(() => resolve({ judgePrompt: 'Score {instruction}' }), /judgePrompt has no \{response\} placeholder/);
  // without the conflict, the same modes resolve; outside lsp the unused self-reward weight is 0
  assert.equal(resolve({ mode: 'lsp-zero' }).selfRewardWeight, 0);
  assert.equal(resolve({ mode: 'lsp-zero', selfRewardWeight: 0 }).selfRewardWeight, 0);
  const grpo = resolve({ mode: 'grpo', promptsFile: 'p.jsonl' });
  assert.deepEqual([grpo.mode, grpo.promptsFile, grpo.selfRewardWeight], ['grpo', 'p.jsonl', 0]);
});

test('tasks: all, none, families or task/template pairs', () => {
  assert.equal(resolve({ tasks: 'none' }).tasks, 'none');
  assert.deepEqual(resolve({ tasks: ['reverse', 'sort'] }).tasks, ['reverse', 'sort']);
  assert.deepEqual(resolve({ tasks: [{ task: 'haiku', template: 'Write a haiku about {topic}.' }] }).tasks, [{ task: 'haiku', template: 'Write a haiku about {topic}.' }]);
});

test('a resolved config, saved as JSON, resolves to itself', () => {
  for (const settings of [{}, { mode: 'lsp-zero', beta: 0.2 }, { mode: 'grpo', promptsFile: 'p.jsonl', lora: { rank: 4, alpha: 8, targets: ['q_proj'] } }]) {
    const c = resolve(settings);
    assert.deepEqual(resolve(JSON.parse(JSON.stringify(c))), c);
  }
});

test('loadConfigFile reads JSON and YAML; errors name the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-config-'));
  try {
    const yaml = path.join(dir, 'run.yaml');
    fs.writeFileSync(yaml, 'mode: lsp-zero\nN: 4\nsampling:\n  solver:\n    temperature: 0.8\ntasks: [reverse, add]\n');
    const c = resolveConfig(loadConfigFile(yaml), {}, { fileName: yaml, now: NOW });
    assert.deepEqual([c.mode, c.N, c.sampling.solver.temperature, c.tasks], ['lsp-zero', 4, 0.8, ['reverse', 'add']]);
    const json = path.join(dir, 'run.json');
    fs.writeFileSync(json, '{"iterations": 3, "klEstimator": "k3"}');
    assert.deepEqual(loadConfigFile(json), { iterations: 3, klEstimator: 'k3' });
    fs.writeFileSync(path.join(dir, 'empty.yaml'), '');
    assert.deepEqual(loadConfigFile(path.join(dir, 'empty.yaml')), {});
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"N": 4,}');
    throwsInput(() => loadConfigFile(path.join(dir, 'bad.json')), /bad\.json: not valid JSON/);
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'N: [4\n');
    throwsInput(() => loadConfigFile(path.join(dir, 'bad.yaml')), /bad\.yaml: not valid YAML/);
    fs.writeFileSync(path.join(dir, 'list.yaml'), '- N\n- G\n');
    throwsInput(() => loadConfigFile(path.join(dir, 'list.yaml')), /list\.yaml: expected a mapping of settings at the top level, got a list/);
    throwsInput(() => loadConfigFile(path.join(dir, 'missing.yaml')), /missing\.yaml: cannot read the config file \(ENOENT\)/);
    fs.writeFileSync(path.join(dir, 'typo.yaml'), 'itterations: 5\n');
    const typo = path.join(dir, 'typo.yaml');
    throwsInput(() => resolveConfig(loadConfigFile(typo), {}, { fileName: typo }), new RegExp(`${typo.replace(/[.\\/]/g, '\\$&')}: unknown setting "itterations"`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('flags from the schema: commander parses them into overrides', () => {
  const flags = configFlags();
  const byFlag = new Map(flags.map((f) => [f.flag.split(' ')[0], f]));
  for (const name of ['--N', '--G', '--alpha-ch', '--beta', '--beta-solver', '--kl-estimator', '--solver-top-p', '--judge-max-tokens', '--tasks', '--quiet', '--out']) {
    assert.ok(byFlag.has(name), `${name} is offered`);
  }
  assert.ok(!byFlag.has('--lora'), 'lora is file-only');
  assert.match(byFlag.get('--kl-estimator')!.description, /\[reward, k3, literal\] \(default "reward"\)/);
  const cmd = new Command().exitOverride();
  for (const f of flags) cmd.option(f.flag, f.description);
  cmd.parse(['--N', '2', '--alpha-ch', '0.5', '--beta', '0.1', '--solver-top-p', '0.9', '--tasks', 'reverse, sort', '--quiet', '--mode', 'lsp-zero'], { from: 'user' });
  const overrides = overridesFromFlags(cmd.opts());
  assert.deepEqual(overrides, { N: 2, alphaCh: 0.5, beta: 0.1, sampling: { solver: { topP: 0.9 } }, tasks: ['reverse', 'sort'], quiet: true, mode: 'lsp-zero' });
  const c = resolve({ N: 8, betaSolver: 0.3 }, overrides);
  assert.deepEqual([c.N, c.alphaCh, c.betaSolver, c.sampling.solver.topP, c.quiet], [2, 0.5, 0.1, 0.9, true]);
  throwsInput(() => overridesFromFlags({ N: 'eight' }), /--N: expected a number, got "eight"/);
  throwsInput(() => overridesFromFlags({ G: '1' }), /--G: G must be >= 2/);
  throwsInput(() => overridesFromFlags({ tasks: 'reverse,juggle' }), /--tasks: expected 'all'/);
  assert.deepEqual(overridesFromFlags({ tasks: 'all', threads: 2 }), { tasks: 'all' }, 'non-config attributes are ignored');
});
