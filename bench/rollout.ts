/**
 * Rollout throughput for `npm run bench`: batched generation of 32 rows x 64 new tokens from one shared 300-token
 * prompt (every challenger query starts from the same Box 1 text), with the shared prefix prefilled once
 * (prefix reuse) and without. Tokens/s counts generated tokens over the whole call, prefill included.
 *
 * The model is models/default when it exists, else a random model of the default model's shape (the pretrain
 * defaults, vocabulary 768). The peer is llama.cpp through node-llama-cpp on the same weights (GGUF from our
 * exporter), when installed outside the package's dependencies (bench/peer-llamacpp.ts); its rounds interleave
 * with ours.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../src/generate/generator.ts';
import { expectedParamShapes, type LlamaConfig, parseModelConfig } from '../src/model/config.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { loadModelWeights } from '../src/model/folder.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { PRETRAIN_DEFAULTS } from '../src/train/pretrain.ts';
import { type Peer, startPeer } from './peer-llamacpp.ts';
import { Rng } from '../src/util/rng.ts';

const ROWS = 32;
const NEW_TOKENS = 64;
const PROMPT_TOKENS = 300;
/** A warm-up run of this many new tokens compiles the same graphs (same cache size) at a third of the cost. */
const WARMUP_TOKENS = 21;

/** The work of one rollout measurement (the default: 32 x 64 new tokens after a 300-token shared prompt). */
export interface RolloutWork {
  rows: number;
  newTokens: number;
  promptTokens: number;
  /** Also time generation without prefix reuse. */
  withoutReuse: boolean;
}

export const DEFAULT_WORK: RolloutWork = { rows: ROWS, newTokens: NEW_TOKENS, promptTokens: PROMPT_TOKENS, withoutReuse: true };

/** A model to measure: its label, config and weights. */
export interface RolloutModel {
  label: string;
  cfg: LlamaConfig;
  weights: Map<string, Float32Array>;
}

export interface RolloutResult {
  model: string;
  /** Median generated tokens/s over the rounds. */
  withReuse: number;
  /** NaN when not measured. */
  withoutReuse: number;
  /** Median generated tokens/s of the llama.cpp peer on the same work, or null (see peerMissing). */
  peer: number | null;
  /** What the peer ran (see bench/peer-llamacpp.ts), or null. */
  peerDescription: string | null;
  /** Why there is no llama.cpp number, or null. */
  peerMissing: string | null;
}

/** The default model's shape as an HF config (pretrain defaults, tied embeddings). */
function defaultShapeConfig(): Record<string, unknown> {
  const m = PRETRAIN_DEFAULTS.model;
  return {
    architectures: ['LlamaForCausalLM'],
    vocab_size: 768,
    hidden_size: m.hiddenSize,
    intermediate_size: m.intermediateSize,
    num_hidden_layers: m.numLayers,
    num_attention_heads: m.numHeads,
    num_key_value_heads: m.numKvHeads,
    head_dim: m.hiddenSize / m.numHeads,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  };
}

/** Uniform(-0.05, 0.05) matrices, norm weights 1, biases 0. */
function randomWeights(cfg: LlamaConfig): Map<string, Float32Array> {
  const rng = new Rng(1);
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (name.endsWith('norm.weight')) a.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < a.length; i++) a[i] = (rng.next() - 0.5) * 0.1;
    weights.set(name, a);
  }
  return weights;
}

export function loadModel(defaultDir: string): RolloutModel {
  if (fs.existsSync(path.join(defaultDir, 'config.json'))) {
    const cfg = parseModelConfig(JSON.parse(fs.readFileSync(path.join(defaultDir, 'config.json'), 'utf8')), defaultDir);
    return { label: 'models/default', cfg, weights: loadModelWeights(defaultDir, cfg).weights };
  }
  const cfg = parseModelConfig(defaultShapeConfig(), 'default shape');
  return { label: 'random weights, default model shape', cfg, weights: randomWeights(cfg) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Warms up both modes, then `rounds` interleaved timed runs of each (and of the peer). */
export async function measureRollout(
  model: string | RolloutModel,
  threads: number,
  rounds: number,
  log: (s: string) => void,
  work: RolloutWork = DEFAULT_WORK,
): Promise<RolloutResult> {
  const { label, cfg, weights } = typeof model === 'string' ? loadModel(model) : model;
  const runtime = new Runtime({ threads });
  try {
    const generator = new Generator(new ModelEngine(cfg, weights, runtime, 'bench-rollout'));
    const rng = new Rng(2);
    const shared = Array.from({ length: work.promptTokens }, () => rng.int(0, cfg.vocabSize - 1));
    const prompts = Array.from({ length: work.rows }, () => [...shared]);
    const run = async (reusePrefix: boolean, maxNewTokens: number, seed: number): Promise<number> => {
      const t0 = performance.now();
      const out = await generator.generate(prompts, { temperature: 1, topP: 1, topK: 0, maxNewTokens, seed, eosIds: [], reusePrefix });
      const tokens = out.reduce((n, g) => n + g.tokens.length, 0);
      return tokens / ((performance.now() - t0) / 1000);
    };
    log(`[rollout] ${label}: V=${cfg.vocabSize} C=${cfg.hiddenSize} L=${cfg.numLayers}; ${work.rows} rows x ${work.newTokens} new tokens, ${work.promptTokens}-token shared prompt; warming up`);
    const warmup = Math.min(WARMUP_TOKENS, work.newTokens);
    await run(true, warmup, 0);
    if (work.withoutReuse) await run(false, warmup, 0);
    let peer: Peer | undefined;
    let peerMissing: string | null = null;
    const peerStarted = await startPeer({ cfg, weights, threads, rows: work.rows, maxTokens: work.promptTokens + work.newTokens, prompt: shared, log });
    if (typeof peerStarted === 'string') peerMissing = peerStarted;
    else peer = peerStarted;
    /** One peer run; a failure drops the peer (reason in peerMissing) instead of failing the bench. */
    const runPeer = async (maxNewTokens: number, seed: number): Promise<number | null> => {
      if (!peer) return null;
      try {
        return await peer.run(shared, maxNewTokens, seed);
      } catch (e) {
        peerMissing = `the llama.cpp run failed: ${(e as Error).message.split('\n')[0]}`;
        await peer.close();
        peer = undefined;
        return null;
      }
    };
    const reuse: number[] = [];
    const noReuse: number[] = [];
    const peerRates: number[] = [];
    try {
      if (peer) log(`[rollout] llama.cpp peer: ${peer.description}`);
      for (let r = 0; r < rounds; r++) {
        reuse.push(await run(true, work.newTokens, r + 1));
        noReuse.push(work.withoutReuse ? await run(false, work.newTokens, r + 1) : NaN);
        const rate = await runPeer(work.newTokens, r + 1);
        if (rate !== null) peerRates.push(rate);
        const peerText = peer ? `, llama.cpp ${peerRates[r].toFixed(0)} tok/s` : '';
        log(`[rollout] round ${r + 1}/${rounds}: prefix reuse ${reuse[r].toFixed(0)} tok/s, no reuse ${noReuse[r].toFixed(0)} tok/s${peerText}`);
      }
    } finally {
      await peer?.close();
    }
    const peerOk = peerMissing === null && peerRates.length === rounds;
    return {
      model: label,
      withReuse: median(reuse),
      withoutReuse: median(noReuse),
      peer: peerOk ? median(peerRates) : null,
      peerDescription: peerOk && typeof peerStarted !== 'string' ? peerStarted.description : null,
      peerMissing,
    };
  } finally {
    await runtime.release();
  }
}
