/**
 * `selfplay experiment paper` end to end on a tiny world model with the `tiny` budget: every arm trains, every
 * model is evaluated against the base, the doc, its figures and results.json are written; a rerun skips finished
 * arms and resumes an unfinished one; a folder made with other settings is refused.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { paperCommand } from '../src/cli/experiment.ts';
import { InputError } from '../src/errors.ts';
import { ALL_ARMS, BUDGETS, budgetArms, grpoPrompts, runPaperExperiment, type PaperOptions } from '../src/experiment/paper.ts';
import { readJson, readJsonl } from '../src/train/run-folder.ts';
import { evalPrompts } from '../src/experiment/paper-eval.ts';
import { evalInstanceKeys } from '../src/world/evalset.ts';
import { classify, instanceKey } from '../src/world/world.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const model = tinyWorldModel();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'experiment-paper-'));

function options(extra: Partial<PaperOptions> = {}): PaperOptions & { lines: string[] } {
  const lines: string[] = [];
  return { model, budget: 'tiny', seed: 3, out: path.join(root, 'run'), doc: path.join(root, 'docs', 'paper.md'), threads: 1, quiet: true, log: (l) => lines.push(l), lines, ...extra };
}

test('GRPO prompt set: distinct valid world instructions over several levels, none held out', () => {
  const prompts = grpoPrompts(3, 64);
  const held = evalInstanceKeys();
  assert.ok(held.size > 0, 'the held-out set was not loaded');
  const keys = prompts.map((p) => {
    const c = classify(p.instruction);
    assert.ok(c.valid, p.instruction);
    return instanceKey(c.instance);
  });
  assert.equal(new Set(keys).size, 64);
  assert.equal(keys.filter((k) => held.has(k)).length, 0);
  assert.ok(new Set(prompts.map((p) => p.difficulty)).size >= 4, 'levels are not mixed');
  assert.deepEqual(grpoPrompts(3, 64), prompts, 'not deterministic');
});

test('experiment paper (tiny budget): arms trained, evaluated against the base, doc and figures written; rerun resumes', async () => {
  const o = options();
  const started = performance.now();
  const outcome = await runPaperExperiment(o);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(outcome.finished, true);
  const b = BUDGETS.tiny;
  const ARMS = budgetArms(b);
  assert.deepEqual(ARMS, ALL_ARMS, 'the tiny budget trains every arm');
  // every arm is a finished run folder; LSP from GRPO starts from (and is anchored to) GRPO's model
  for (const arm of ARMS) {
    const dir = path.join(o.out, arm.name);
    assert.ok(fs.existsSync(path.join(dir, 'model', 'config.json')), `${arm.name}: no model`);
    assert.equal(readJsonl(path.join(dir, 'metrics.jsonl')).length, arm.kind === 'ablation' ? b.ablationIterations : b.iterations);
    const config = readJson(path.join(dir, 'config.json')) as Record<string, unknown>;
    assert.equal(config.mode, arm.mode);
    assert.equal(config.model, arm.start === 'grpo' ? path.join(o.out, 'grpo', 'model') : model);
    assert.equal(config.N, b.N);
    assert.equal(config.verifierReward, 'exact');
    // the budget's challenger settings reach the challenger arms; an ablation arm flips exactly its option
    if (arm.mode !== 'grpo') {
      const flip = arm.ablate;
      assert.equal(config.invalidQueryPenalty, flip === 'invalidQueryPenalty' ? 0 : 1, arm.name);
      assert.equal(config.challengerReward, flip === 'challengerReward' ? 'uncertainty' : 'paper', arm.name);
      assert.equal(config.repetitionPenalty, flip === 'repetitionPenalty' ? 0 : 0.5, arm.name);
    }
  }
  const prompts = readJsonl(path.join(o.out, 'grpo-prompts.jsonl'));
  assert.equal(prompts.length, b.grpoPrompts);
  // evaluation: each arm against the base, per family and overall, with intervals around the win rate
  type Paired = { group: string; greedy: { n: number; gained: number; lost: number; p: number }; meanK: { n: number } };
  const results = readJson(path.join(o.out, 'results.json')) as { evals: { name: string; accuracy: { group: string; n: number; greedy: number }[]; paired?: Paired[]; vsBase?: { overall: { n: number; winRate: number; winRateCI: { lo: number; hi: number } }; subsets: { subset: string; n: number }[] }; vsBaseSampled?: { overall: { n: number } } }[] };
  assert.deepEqual(results.evals.map((e) => e.name), ['base', ...ARMS.map((a) => a.name)]);
  assert.equal(results.evals[0].vsBase, undefined);
  assert.equal(results.evals[0].paired, undefined);
  const families = new Set(evalPrompts(b.evalItems).map((p) => p.subset));
  assert.ok(families.size >= 4, 'the evaluation items do not spread over the families');
  for (const e of results.evals.slice(1)) {
    const s = e.vsBase!.overall;
    assert.equal(s.n, b.evalItems);
    assert.ok(s.winRate >= 0 && s.winRate <= 1 && s.winRateCI.lo <= s.winRate && s.winRate <= s.winRateCI.hi, JSON.stringify(s));
    assert.deepEqual(e.vsBase!.subsets.map((x) => x.subset).sort(), [...families].sort());
    assert.equal(e.vsBaseSampled!.overall.n, b.evalItems);
    const overall = e.paired!.find((x) => x.group === 'overall')!;
    assert.equal(overall.greedy.n, b.evalItems);
    assert.equal(overall.meanK.n, b.evalItems);
    assert.ok(overall.greedy.p >= 0 && overall.greedy.p <= 1);
    assert.equal(e.accuracy.at(-1)!.group, 'overall');
    assert.ok(fs.existsSync(path.join(o.out, 'eval', `${e.name}-vs-base`, 'eval.json')));
  }
  // the doc: command, every arm beside the paper's number, figures next to it, a generated "what happened"
  const doc = fs.readFileSync(o.doc, 'utf8');
  assert.ok(doc.includes('npx selfplay experiment paper') && doc.includes('--budget tiny --seed 3'), 'command missing');
  for (const arm of ARMS) assert.match(doc, new RegExp(`\\| ${arm.label.replace(/[()]/g, '\\$&')} \\| [\\d.]+ \\| \\[[\\d.]+, [\\d.]+\\] \\| \\d+ / \\d+ / \\d+ \\| [\\d.]+ \\| \\[[\\d.]+, [\\d.]+\\] \\| \\d+ / \\d+ / \\d+ \\| ${arm.paperWinRate === null ? '–' : arm.paperWinRate.toFixed(1)} \\|`));
  assert.match(doc, /## Did the paper's claims reproduce\?\n\n- GRPO \(with data\) beats the base .*\*\*(not )?reproduced\*\*/);
  assert.match(doc, /\| LSP, repetition penalty flipped \| on \(1\) \| off \| off \| 1 \|/);
  assert.match(doc, /## What happened\n\nGenerated from the numbers above\.\n\n- GRPO \(with data\): [\d.]+% \[/);
  assert.match(doc, /LSP-Zero challenger validity: [\d.]+% of queries in iterations 1, [\d.]+% in 2/);
  const svgs = outcome.files.filter((f) => f.endsWith('.svg'));
  assert.equal(svgs.length, 9);
  for (const f of svgs) {
    assert.equal(path.dirname(f), path.dirname(o.doc));
    assert.ok(doc.includes(`](${path.basename(f)})`), `${path.basename(f)} not linked from the doc`);
    assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /NaN|Infinity/);
  }
  const perIteration = ARMS.map((arm) => readJsonl(path.join(o.out, arm.name, 'metrics.jsonl')).map((m) => Object.entries(m).filter(([k]) => k.startsWith('time/')).reduce((a, [, v]) => a + (v as number), 0)));
  console.log(`tiny experiment: ${seconds.toFixed(1)} s in all; seconds per iteration (tiny model) ${perIteration.map((t) => t.map((x) => x.toFixed(2)).join('/')).join(', ')}`);

  // rerun after losing one arm's final model: finished arms are skipped, that arm resumes from its checkpoint
  fs.rmSync(path.join(o.out, 'lsp', 'model'), { recursive: true });
  // (the folder named relatively this time: the same run)
  const again = options({ out: path.relative(process.cwd(), o.out) });
  assert.equal((await runPaperExperiment(again)).finished, true);
  assert.ok(again.lines.some((l) => /^grpo: finished earlier/.test(l)), again.lines.join('\n'));
  assert.ok(again.lines.some((l) => /^lsp: resuming/.test(l)), again.lines.join('\n'));
  assert.ok(again.lines.some((l) => /^base: answers reused/.test(l)), again.lines.join('\n'));
  assert.ok(fs.existsSync(path.join(o.out, 'lsp', 'model', 'config.json')));
  assert.equal(readJsonl(path.join(o.out, 'lsp', 'metrics.jsonl')).length, b.iterations);

  // the same folder with another seed is refused, naming the field
  await assert.rejects(runPaperExperiment(options({ seed: 4 })), (e: Error) => e instanceof InputError && /seed 3 there, 4 now/.test(e.message));
});

test('experiment paper: bad input is named', async () => {
  await assert.rejects(runPaperExperiment(options({ model: path.join(root, 'nope'), out: path.join(root, 'x') })), /--model .*nope: no config\.json/);
  await assert.rejects(runPaperExperiment(options({ doc: path.join(root, 'paper.txt'), out: path.join(root, 'y') })), /--doc .*paper\.txt: expected a markdown file/);
  await assert.rejects(runPaperExperiment(options({ also: [path.join(root, 'none.json')], out: path.join(root, 'z') })), /--also .*none\.json: no such file; expected a finished experiment's results\.json/);
  await assert.rejects(paperCommand({ budget: 'tiny' }), /--budget: expected one of small, full; got "tiny"/);
});
