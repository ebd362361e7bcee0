/**
 * The real-size section of `npm run bench`: the SmolLM2-135M body with the Llama-3 vocabulary (128,256; 180M
 * parameters, random weights), each figure beside its anchor in the same run:
 *   - the train step (forward + backward + AdamW, full fine-tuning, B=4 x T=64) against PyTorch: bench/run.ts
 *     runs it as the shape `real` (one step per engine per round, interleaved);
 *   - rollouts: 32 rows x 32 sampled tokens after a shared 300-token prompt, against llama.cpp on the GGUF our
 *     exporter writes (bench/rollout.ts, bench/peer-llamacpp.ts);
 *   - one GRPO iteration (N=8 prompts, G=4 answers of 128 new tokens, LoRA rank 16 on every projection, the world
 *     verifier as reward) by stage, from a model folder made by scripts/make-real-model.ts with the real Llama-3
 *     tokenizer and chat template; graphs compiled in the timed iterations are counted;
 *   - the process's peak resident memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expectedParamShapes, type LlamaConfig, parseModelConfig } from '../src/model/config.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { readJsonl } from '../src/train/run-folder.ts';
import { runSettings } from '../src/train/settings.ts';
import { buildRealModelFolder, realModelConfig } from '../scripts/make-real-model.ts';
import { measureRollout, type RolloutResult } from './rollout.ts';

export const REAL_SHAPE = 'smollm2-135m';
export const REAL_TOKENIZER = 'llama3';
/** The train step's batch (the PyTorch anchor runs the same). */
export const REAL_BATCH = { B: 4, T: 64 };
const ROLLOUT_WORK = { rows: 32, newTokens: 32, promptTokens: 300, withoutReuse: false };
const GRPO = { N: 8, G: 4, newTokens: 128, loraRank: 16, microBatch: 8 };

/** HF config of the real shape (what the anchor builds too). */
export function realHfConfig(): Record<string, unknown> {
  return realModelConfig({ shape: REAL_SHAPE, tokenizer: REAL_TOKENIZER });
}

/** Random weights, uniform with the initializer's std (0.02), norms 1 (a fast LCG: 180M draws). */
function randomWeights(cfg: LlamaConfig, seed: number): Map<string, Float32Array> {
  let s = seed >>> 0;
  const half = 0.02 * Math.sqrt(3);
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (name.endsWith('norm.weight')) a.fill(1);
    else if (!name.endsWith('.bias')) {
      for (let i = 0; i < a.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        a[i] = (s / 2 ** 32 - 0.5) * 2 * half;
      }
    }
    weights.set(name, a);
  }
  return weights;
}

/** Sampling throughput at the real size against llama.cpp on the same weights. */
export async function measureRealRollout(threads: number, rounds: number, log: (s: string) => void): Promise<RolloutResult> {
  const cfg = parseModelConfig(realHfConfig(), REAL_SHAPE);
  const model = { label: `${REAL_SHAPE} body, ${REAL_TOKENIZER} vocabulary, random weights`, cfg, weights: randomWeights(cfg, 3) };
  return measureRollout(model, threads, rounds, log, ROLLOUT_WORK);
}

export interface GrpoBench {
  seconds: number;
  split: Record<string, number>;
  /** Graphs compiled during the timed iterations (0 in steady state). */
  compiles: number;
  /** Peak resident memory of the process after the run, MB. */
  peakRssMb: number;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const INSTRUCTIONS = [
  'Write a haiku about the sea.',
  'Explain what a hash table is in two sentences.',
  'List three prime numbers greater than 50.',
  'Translate "good morning" into French and Spanish.',
  'Give a short title for an essay about renewable energy.',
  'Summarise the plot of a detective story in one line.',
  'What is 17 times 23? Show the steps.',
  'Suggest a name for a coffee shop on a quiet street.',
];

/** One warm-up GRPO iteration, then `rounds` timed ones; medians by stage. */
export async function measureRealGrpo(threads: number, rounds: number, log: (s: string) => void): Promise<GrpoBench> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-real-'));
  try {
    const model = path.join(tmp, 'model');
    log(`[real grpo] writing a random ${REAL_SHAPE} folder with the ${REAL_TOKENIZER} tokenizer`);
    buildRealModelFolder({ shape: REAL_SHAPE, tokenizer: REAL_TOKENIZER, out: model });
    const prompts = path.join(tmp, 'prompts.jsonl');
    fs.writeFileSync(prompts, INSTRUCTIONS.map((instruction) => JSON.stringify({ instruction })).join('\n') + '\n');
    const config = resolveConfig({
      model,
      out: path.join(tmp, 'run'),
      mode: 'grpo',
      promptsFile: prompts,
      iterations: 1 + rounds,
      N: GRPO.N,
      G: GRPO.G,
      microBatch: GRPO.microBatch,
      lora: { rank: GRPO.loraRank, alpha: 2 * GRPO.loraRank, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      sampling: { solver: { maxTokens: GRPO.newTokens } },
      quiet: true,
      checkpointEvery: 1000,
    });
    const settings = runSettings(config, new Runtime({ threads }), threads);
    // the compile count after each iteration joins its metrics line
    settings.evalEvery = 1;
    settings.periodicEval = async () => ({ 'bench/compiles': Runtime.processCompiles });
    log(`[real grpo] N=${GRPO.N} G=${GRPO.G}, ${GRPO.newTokens} new tokens, LoRA rank ${GRPO.loraRank}: 1 warm-up + ${rounds} timed iterations`);
    await train(settings);
    const all = readJsonl(path.join(tmp, 'run', 'metrics.jsonl'));
    const timed = all.slice(1);
    const stages = Object.keys(timed[0]).filter((k) => k.startsWith('time/'));
    const split = Object.fromEntries(stages.map((k) => [k.slice(5), median(timed.map((m) => m[k] as number))]));
    const seconds = median(timed.map((m) => stages.reduce((a, k) => a + (m[k] as number), 0)));
    const compiles = (all.at(-1)!['bench/compiles'] as number) - (all[0]['bench/compiles'] as number);
    return { seconds, split, compiles, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** What the real section needs from bench/run.ts. */
export interface RealSectionContext {
  threads: number;
  quick: boolean;
  json: Record<string, unknown>;
  out: (s: string) => void;
  log: (s: string) => void;
  /** Runs the interleaved train-step comparison of the shape `real` and returns its median ratio (null: no anchor). */
  trainShape: (name: string) => Promise<{ ratio: number | null } | null>;
}

const sig = (x: number | null) => (x === null || !Number.isFinite(x) ? null : Number(x.toPrecision(4)));

/** The real-size section: GRPO iteration, rollouts vs llama.cpp, train step vs PyTorch, peak RSS, in that order. */
export async function realSection({ threads, quick, json, out, log, trainShape }: RealSectionContext): Promise<void> {
  out(`\nreal size: ${REAL_SHAPE} body, Llama-3 vocabulary (128,256), random weights\n`);
  const grpo = await measureRealGrpo(threads, 1, log);
  const parts = Object.entries(grpo.split).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  out(`GRPO iteration (N=8, G=4, 128 new tokens, LoRA rank 16): ${grpo.seconds.toFixed(1)} s = ${parts}; ${grpo.compiles} graphs compiled in the timed iteration; peak RSS so far ${grpo.peakRssMb.toFixed(0)} MB\n`);
  json.real_grpo_iteration_s = sig(grpo.seconds);
  json.real_grpo_iteration_split = Object.fromEntries(Object.entries(grpo.split).map(([k, v]) => [k, sig(v)]));
  json.real_grpo_steady_state_compiles = grpo.compiles;
  json.real_grpo_peak_rss_mb = sig(grpo.peakRssMb);
  const r = await measureRealRollout(threads, quick ? 2 : 3, log);
  const ratio = r.peer === null ? null : r.withReuse / r.peer;
  out(
    `rollout (32 rows x 32 sampled tokens): ours ${r.withReuse.toFixed(1)} tok/s, ` +
      (r.peer === null ? `llama.cpp peer missing: ${r.peerMissing}\n` : `llama.cpp ${r.peer.toFixed(1)} tok/s, ratio ${ratio!.toFixed(2)} (goal >= 1.5)\n  peer: ${r.peerDescription}\n`),
  );
  json.real_rollout_tokens_per_s = sig(r.withReuse);
  json.real_rollout_llamacpp_tokens_per_s = sig(r.peer);
  json.real_rollout_ratio_vs_llamacpp = ratio === null ? 'peer missing' : sig(ratio);
  const step = await trainShape('real');
  if (step) out(`real train step ratio ${step.ratio === null ? 'anchor missing' : step.ratio.toFixed(3)} (goal <= 0.7)\n`);
  const peak = process.resourceUsage().maxRSS / 1024;
  json.real_peak_rss_mb = sig(peak);
  out(`real peak RSS ${peak.toFixed(0)} MB\n`);
}
