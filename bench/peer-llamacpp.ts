/**
 * The llama.cpp peer of the rollout bench (bench/rollout.ts): the same work, 32 sequences x 64 new tokens from one
 * shared prompt, run by llama.cpp through node-llama-cpp on the same weights.
 *
 * node-llama-cpp is NOT a dependency of this package. It is looked for, in this order, in
 *   - the folder named by SELFPLAY_BENCH_NODE_LLAMA_CPP (a folder holding node_modules/node-llama-cpp), or
 *   - bench/.peer (gitignored): `npm install --prefix bench/.peer node-llama-cpp`
 * and loaded with a dynamic import; its prebuilt CPU binary (the @node-llama-cpp/linux-x64 npm package and the
 * like) is used as is, never built or downloaded (`build: "never"`). Otherwise the peer is "missing", with why.
 *
 * The weights go through our GGUF writer (src/model/gguf.ts, what `selfplay export` runs) into a temporary file:
 * f16 by default, the exporter's default and llama.cpp's faster choice here (on models/default, 2026-11-25: 915
 * tok/s vs 704 for f32); SELFPLAY_BENCH_PEER_DTYPE=f32 gives llama.cpp exactly the numbers we multiply. The
 * work is defined in token ids and is fed to llama.cpp as ids, so the GGUF carries a stand-in byte-level BPE
 * vocabulary of the model's size (node-llama-cpp will not load a vocabulary-less GGUF, and the model's own
 * tokenizer plays no part in the work).
 *
 * One context with one sequence per row (CPU, no GPU), rows generating concurrently so that node-llama-cpp puts
 * one token of every row into each llama.cpp batch. Thread count (`threads` or 1) and flash attention (off or on)
 * are llama.cpp's fastest on a short calibration run: on this 2-core VM a 2-thread llama.cpp decode of this small
 * model spends most of its time synchronising threads (~10x slower per token than 1 thread, measured), and the
 * peer should be measured at its best within the same cores. The shared prompt (all but its last
 * token) is prefilled once on the first sequence and its KV cache copied to the others (llama.cpp's
 * llama_memory_seq_cp, through node-llama-cpp's internal `_copyStateFromOtherSequence`, which its own
 * LlamaDecisionContext uses); without that method every row prefills the whole prompt, and the description says
 * so. Sampling: temperature 1 over the full vocabulary (top-k, top-p and min-p off), end-of-generation tokens
 * ignored, exactly `newTokens` per row. Tokens/s counts generated tokens over the whole run, prefill included,
 * as ours does.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LlamaConfig } from '../src/model/config.ts';
import { writeGguf } from '../src/model/gguf.ts';
import { byteLevelChar } from '../src/model/gguf-tokenizer.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PEER_ENV = 'SELFPLAY_BENCH_NODE_LLAMA_CPP';
export const PEER_DIR = path.join(ROOT, 'bench', '.peer');
export const PEER_INSTALL = 'npm install --prefix bench/.peer node-llama-cpp';

// The few parts of node-llama-cpp's API used here (it is not installed for the type checker).
interface NlcSequence {
  evaluate(tokens: number[], options: Record<string, unknown>): AsyncGenerator<number, void, void | number | number[]>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  clearHistory(): Promise<void>;
  readonly nextTokenIndex: number;
  _copyStateFromOtherSequence?: (other: NlcSequence, upToTokenIndex: number) => Promise<boolean>;
}
interface NlcContext {
  getSequence(): NlcSequence;
  dispose(): Promise<void>;
}
interface NlcModel {
  createContext(options: Record<string, unknown>): Promise<NlcContext>;
  dispose(): Promise<void>;
}
interface NlcLlama {
  loadModel(options: Record<string, unknown>): Promise<NlcModel>;
  dispose(): Promise<void>;
}
interface NlcModule {
  getLlama(options: Record<string, unknown>): Promise<NlcLlama>;
  LlamaLogLevel: Record<string, unknown>;
}

export interface PeerOptions {
  cfg: LlamaConfig;
  weights: Map<string, Float32Array>;
  threads: number;
  rows: number;
  /** Longest prompt + new tokens a row will hold. */
  maxTokens: number;
  /** The shared prompt, for the calibration runs. */
  prompt: readonly number[];
  log?: (line: string) => void;
}

export interface Peer {
  /** One line: what ran (version, GGUF type, batching, prefix sharing, sampling). */
  description: string;
  /** Generates `newTokens` per row from `prompt` on every row; returns generated tokens per second. */
  run(prompt: readonly number[], newTokens: number, seed: number): Promise<number>;
  close(): Promise<void>;
}

/** The folder holding node_modules/node-llama-cpp, or why there is none. */
function locate(): { dir: string } | { missing: string } {
  const fromEnv = process.env[PEER_ENV];
  const hint = `install it with \`${PEER_INSTALL}\`, or set ${PEER_ENV} to a folder holding node_modules/node-llama-cpp`;
  const dir = fromEnv ? path.resolve(fromEnv) : PEER_DIR;
  if (fs.existsSync(path.join(dir, 'node_modules', 'node-llama-cpp', 'package.json'))) return { dir };
  const where = fromEnv ? `${PEER_ENV}=${fromEnv}` : path.relative(ROOT, PEER_DIR);
  return { missing: `node-llama-cpp not found in ${where}/node_modules; ${hint}` };
}

/** A stand-in tokenizer folder: 3 special tokens and the byte-level alphabet, cut to the model's vocabulary. */
function writeStandInTokenizer(dir: string, vocabSize: number): void {
  const specials = ['<unk>', '<s>', '</s>'];
  const vocab: Record<string, number> = {};
  for (const t of [...specials, ...Array.from({ length: 256 }, (_, b) => byteLevelChar(b))].slice(0, vocabSize)) vocab[t] = Object.keys(vocab).length;
  const added = specials
    .filter((t) => t in vocab)
    .map((content) => ({ id: vocab[content], content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }));
  const tokenizer = {
    version: '1.0',
    added_tokens: added,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: [] },
  };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', add_bos_token: false }));
}

/** Loads the peer on the given weights; returns it, or the reason it is missing. */
export async function startPeer(opts: PeerOptions): Promise<Peer | string> {
  const found = locate();
  if ('missing' in found) return found.missing;
  const dtype = process.env.SELFPLAY_BENCH_PEER_DTYPE || 'f16';
  if (dtype !== 'f32' && dtype !== 'f16') return `SELFPLAY_BENCH_PEER_DTYPE must be f32 or f16, got ${JSON.stringify(dtype)}`;
  const pkgDir = path.join(found.dir, 'node_modules', 'node-llama-cpp');
  let version = '?';
  let nlc: NlcModule;
  try {
    version = String(JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version);
    const entry = createRequire(path.join(found.dir, 'noop.js')).resolve('node-llama-cpp');
    nlc = (await import(pathToFileURL(entry).href)) as NlcModule;
  } catch (e) {
    return `node-llama-cpp in ${pkgDir} does not load: ${(e as Error).message.split('\n')[0]}`;
  }

  opts.log?.(`[rollout] llama.cpp peer: node-llama-cpp ${version} from ${pkgDir}; writing the GGUF, loading, calibrating`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-bench-peer-'));
  let llama: NlcLlama | undefined;
  let model: NlcModel | undefined;
  let setup: Setup | undefined;
  const close = async () => {
    await setup?.context.dispose().catch(() => {});
    setup = undefined;
    await model?.dispose().catch(() => {});
    await llama?.dispose().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  let trials: string[] = [];
  try {
    writeStandInTokenizer(tmp, opts.cfg.vocabSize);
    const gguf = path.join(tmp, 'model.gguf');
    writeGguf(gguf, { cfg: opts.cfg, weights: opts.weights, tokenizerDir: tmp, dtype, name: 'bench-rollout' });
    llama = await nlc.getLlama({ build: 'never', gpu: false, maxThreads: opts.threads, logLevel: nlc.LlamaLogLevel.error, progressLogs: false });
    model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
    const m = model;
    const contextSize = Math.ceil(opts.maxTokens / 256) * 256;
    // Calibration: llama.cpp's best of {opts.threads, 1} threads x flash attention {off, on} on a short run (on a
    // small model, per-op thread synchronisation can cost more than a second thread gains).
    const threadCounts = [...new Set([opts.threads, 1])];
    let best: { setup: Setup; rate: number } | undefined;
    const results: string[] = [];
    for (const threads of threadCounts) {
      for (const flashAttention of [false, true]) {
        const context = await m.createContext({ sequences: opts.rows, contextSize, batchSize: Math.max(512, opts.rows), threads, flashAttention });
        const candidate: Setup = { threads, flashAttention, context, seqs: Array.from({ length: opts.rows }, () => context.getSequence()) };
        await generate(candidate, opts.prompt, 4, 0, opts.rows); // first-use costs
        const rate = await generate(candidate, opts.prompt, CALIBRATION_TOKENS, 1, opts.rows);
        results.push(`${threads} thread${threads > 1 ? 's' : ''}, flash attention ${flashAttention ? 'on' : 'off'}: ${rate.toFixed(0)} tok/s`);
        if (!best || rate > best.rate) {
          await best?.setup.context.dispose();
          best = { setup: candidate, rate };
        } else await context.dispose();
      }
    }
    setup = best!.setup;
    trials = results;
  } catch (e) {
    await close();
    return `node-llama-cpp ${version} could not run llama.cpp on the model: ${(e as Error).message.split('\n')[0]}`;
  }
  const chosen = setup;
  const canCopy = typeof chosen.seqs[0]._copyStateFromOtherSequence === 'function';
  const description =
    `node-llama-cpp ${version}, ${dtype} GGUF from our writer, CPU, ${chosen.threads} thread${chosen.threads > 1 ? 's' : ''}, ` +
    `flash attention ${chosen.flashAttention ? 'on' : 'off'} (fastest in calibration, ${CALIBRATION_TOKENS} new tokens per row: ${trials.join('; ')}), ` +
    `${opts.rows} sequences in one context generating concurrently, ` +
    (canCopy ? 'shared prompt prefilled once and its KV cache copied to every sequence' : 'every sequence prefills the whole prompt (no prefix copy in this version)') +
    ', temperature 1 (full vocabulary), end-of-generation ignored';
  return {
    description,
    run: (prompt, newTokens, seed) => generate(chosen, prompt, newTokens, seed, opts.rows),
    close,
  };
}

/** New tokens per row of each calibration run. */
const CALIBRATION_TOKENS = 16;

/** One llama.cpp configuration: a context with one sequence per row. */
interface Setup {
  threads: number;
  flashAttention: boolean;
  context: NlcContext;
  seqs: NlcSequence[];
}

/** Generates `newTokens` on every sequence from `prompt`; returns generated tokens per second, prefill included. */
async function generate(setup: Setup, prompt: readonly number[], newTokens: number, seed: number, rows: number): Promise<number> {
  const { seqs } = setup;
  for (const s of seqs) await s.clearHistory();
  const head = prompt.slice(0, -1);
  const canCopy = typeof seqs[0]._copyStateFromOtherSequence === 'function' && head.length > 0;
  const t0 = performance.now();
  let starts: number[][] = seqs.map(() => [...prompt]);
  if (canCopy) {
    await seqs[0].evaluateWithoutGeneratingNewTokens(head);
    for (const s of seqs.slice(1)) {
      if (!(await s._copyStateFromOtherSequence!(seqs[0], head.length))) throw new Error('copying the prompt KV cache between sequences failed');
    }
    starts = seqs.map(() => [prompt[prompt.length - 1]]);
  }
  const counts = await Promise.all(
    seqs.map(async (s, i) => {
      let n = 0;
      const options = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed * rows + i + 1, yieldEogToken: true };
      for await (const _token of s.evaluate(starts[i], options)) if (++n >= newTokens) break;
      return n;
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== rows * newTokens) throw new Error(`generated ${total} tokens, expected ${rows} x ${newTokens}`);
  return total / seconds;
}
