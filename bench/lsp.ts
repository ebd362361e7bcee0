/**
 * One full LSP iteration (N=8, G=4) on the default model, timed by stage: challenger sampling, solver sampling,
 * reward, judging (the reference model's Box 3 self-reward), reference log-probs, train step. A warm-up iteration
 * compiles the graphs first; the reported numbers are the median over `rounds` timed iterations.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runSettings } from '../src/train/settings.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { readJsonl } from '../src/train/run-folder.ts';

export interface LspBench {
  seconds: number;
  split: Record<string, number>;
  /** Graphs compiled during the timed iterations. */
  compiles: number;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

export async function measureLspIteration(modelDir: string, threads: number, rounds: number): Promise<LspBench | string> {
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) return `no model at ${modelDir}`;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-lsp-'));
  try {
    const config = resolveConfig({ model: modelDir, out, iterations: 1 + rounds, N: 8, G: 4, mode: 'lsp', quiet: true, checkpointEvery: 1000, checkpointMinutes: 0 });
    const runtime = new Runtime({ threads });
    const settings = runSettings(config, runtime, threads);
    settings.evalEvery = 1; // the compile count after each iteration joins its metrics line
    settings.periodicEval = async () => ({ 'bench/compiles': Runtime.processCompiles });
    await train(settings);
    await runtime.release();
    const all = readJsonl(path.join(out, 'metrics.jsonl'));
    const timed = all.slice(1);
    const stages = Object.keys(timed[0]).filter((k) => k.startsWith('time/'));
    const split = Object.fromEntries(stages.map((k) => [k.slice(5), median(timed.map((m) => m[k] as number))]));
    const seconds = median(timed.map((m) => stages.reduce((a, k) => a + (m[k] as number), 0)));
    const compiles = (all.at(-1)!['bench/compiles'] as number) - (all[0]['bench/compiles'] as number);
    return { seconds, split, compiles };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}
