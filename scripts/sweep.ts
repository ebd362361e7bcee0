/**
 * The defaults sweep: `npx tsx scripts/sweep.ts [--model DIR] [--out DIR] [--doc FILE] [--seed S] [--threads T]
 * [--runs a,b,...]`. Short GRPO-frontier and LSP runs, one at a time, measured on the dev set (never the held-out
 * set); writes docs/results/sweep.md. Resumable: finished runs and cached answers are reused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { itemOutcomes, pairedRows } from '../src/eval/accuracy.ts';
import { armConfig, BUDGETS, type ArmSpec } from '../src/experiment/arms.ts';
import { devPrompts } from '../src/experiment/dev.ts';
import { DEFAULT_FRONTIER } from '../src/experiment/frontier.ts';
import { answersOf } from '../src/experiment/paper-eval.ts';
import { grpoPrompts } from '../src/experiment/paper.ts';
import { measuredFrontier, trainRun } from '../src/experiment/runner.ts';
import { lastMean, SWEEP_RUNS, sweepMarkdown, type SweepRow } from '../src/experiment/sweep.ts';
import { readJsonl, writeFileAtomic, writeJsonAtomic } from '../src/train/run-folder.ts';
import { classify, instanceKey } from '../src/world/world.ts';

/** Dev items per frontier level unless --dev-per-level says otherwise. */
const DEV_PER_LEVEL = '30';
const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' },
    out: { type: 'string', default: 'runs/sweep' },
    doc: { type: 'string', default: 'docs/results/sweep.md' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string' },
    runs: { type: 'string' },
    'dev-per-level': { type: 'string', default: DEV_PER_LEVEL },
  },
});
const seed = Number(a.seed);
const threads = a.threads === undefined ? undefined : Number(a.threads);
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const b = BUDGETS.small;
const k = b.evalK;
fs.mkdirSync(a.out!, { recursive: true });

const kept = await measuredFrontier({ model: a.model!, file: path.join(a.out!, 'frontier.json'), range: DEFAULT_FRONTIER, seed, ...b.frontierProbe, maxTokens: b.evalMaxTokens, threads, log });
const keep = (family: string, difficulty: number) => kept.some((l) => l.family === family && l.difficulty === difficulty);
const prompts = grpoPrompts(seed, b.grpoPrompts, keep);
const promptsFile = path.join(a.out!, 'grpo-prompts.jsonl');
writeFileAtomic(promptsFile, prompts.map((p) => JSON.stringify(p)).join('\n') + '\n');
const dev = devPrompts(kept, Number(a['dev-per-level']), prompts.map((p) => { const c = classify(p.instruction); return c.valid ? instanceKey(c.instance) : ''; }));
log(`dev set: ${dev.length} items of ${kept.length} frontier levels`);

const evalOpts = { out: path.join(a.out!, 'dev-eval'), models: [], prompts: dev, settings: { k, maxTokens: b.evalMaxTokens, seed, batchSize: 64 }, bootstrapSeed: seed, threads, quiet: true, log };
const baseItems = itemOutcomes(dev, await answersOf(evalOpts, { name: 'base', dir: a.model! }));
const chosen = a.runs ? SWEEP_RUNS.filter((r) => a.runs!.split(',').includes(r.name)) : SWEEP_RUNS;
const rows: SweepRow[] = [];
const timesFile = path.join(a.out!, 'train-seconds.json');
const times: Record<string, number> = fs.existsSync(timesFile) ? JSON.parse(fs.readFileSync(timesFile, 'utf8')) : {};
for (const run of chosen) {
  const arm: ArmSpec = { name: run.name, label: run.name, mode: run.mode, start: 'base', paperWinRate: null, kind: 'main', overrides: run.overrides };
  const out = path.join(a.out!, run.name);
  const config = armConfig(b, arm, { model: a.model!, out, seed, quiet: true, promptsFile });
  const { seconds, finished } = await trainRun(run.name, config, threads, log);
  times[run.name] = (times[run.name] ?? 0) + seconds;
  writeJsonAtomic(timesFile, times);
  if (!finished) process.exit(1);
  const items = itemOutcomes(dev, await answersOf(evalOpts, { name: run.name, dir: path.join(out, 'model') }));
  const dev_ = pairedRows(items, baseItems, { seed }).find((r) => r.group === 'overall')!;
  const metrics = readJsonl(path.join(out, 'metrics.jsonl'));
  rows.push({ ...run, trainSeconds: times[run.name], dev: dev_, validLast: run.mode === 'grpo' ? null : lastMean(metrics, 'challenger/valid_frac'), klSolver: lastMean(metrics, 'kl/solver') });
  log(`${run.name}: dev greedy ${(100 * dev_.greedy.diff).toFixed(1)} pts, mean@${k} ${(100 * dev_.meanK.diff).toFixed(1)} pts [${(100 * dev_.meanK.diffCI.lo).toFixed(1)}, ${(100 * dev_.meanK.diffCI.hi).toFixed(1)}]`);
  const results = {
    command: `npx tsx scripts/sweep.ts --model ${a.model} --out ${a.out} --doc ${a.doc} --seed ${seed}${threads ? ` --threads ${threads}` : ''}${a['dev-per-level'] !== DEV_PER_LEVEL ? ` --dev-per-level ${a['dev-per-level']}` : ''}${a.runs ? ` --runs ${a.runs}` : ''}`,
    date: new Date().toISOString(),
    machine: `${os.availableParallelism()} cores`,
    model: a.model!,
    seed,
    k,
    devItems: dev.length,
    frontier: kept,
    rows,
  };
  writeJsonAtomic(path.join(a.out!, 'sweep.json'), results);
  writeFileAtomic(a.doc!, sweepMarkdown(results));
}
