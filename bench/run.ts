/**
 * `npm run bench`: train-step speed against the PyTorch anchor, the fraction of the machine's GEMM rate a
 * train step achieves, and batched rollout throughput with and without prefix reuse (bench/rollout.ts), against
 * llama.cpp through node-llama-cpp when it is installed outside the package (bench/peer-llamacpp.ts).
 *
 *   npm run bench [-- --json] [--rounds N] [--steps K] [--shapes llama-ref,default] [--rollout-rounds R]
 *
 * The VM's speed drifts by tens of percent over minutes, so everything is measured interleaved: after warming
 * both engines up, each round runs K train steps of ours and K of the anchor (alternating which goes first) and
 * one GEMM measurement; the reported ratio is the median over rounds of median(ours)/median(anchor).
 *
 * A train step is forward + backward + AdamW (lr 1e-4, weight decay 0.1, grad clip 1.0) on the same model shape
 * and batch: ours is ModelEngine.trainStep (weighted NLL = mean cross-entropy) followed by AdamW.step, timed
 * together; the anchor is bench/torch_anchor.py (random init, B=8, T=128 for every shape). After each anchor
 * reply we wait until its process is idle (OpenBLAS workers spin ~100 ms after a call) so its spin is not
 * charged to whatever is timed next. The GEMM reference is bench/gemm.ts; FLOPs are counted by bench/flops.ts.
 *
 * With --json the human output goes to stderr and the script writes exactly one JSON line to stdout (use
 * `npm run --silent bench -- --json` to keep npm's own banner off stdout too).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { expectedParamShapes, type LlamaConfig, parseModelConfig } from '../src/model/config.ts';
import { ModelEngine, type PaddedBatch, padBatch } from '../src/model/engine.ts';
import { weightedNll } from '../src/model/graphs.ts';
import { AdamW } from '../src/optim/adamw.ts';
import type { HostTensor } from '../src/runtime/runtime.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { trainStepFlops } from './flops.ts';
import { GEMM_SHAPE, GemmBench } from './gemm.ts';
import { measureRollout } from './rollout.ts';
import { measureLspIteration } from './lsp.ts';
import { measureRemoteOverhead } from './remote.ts';
import { REAL_BATCH, REAL_SHAPE, realHfConfig, realSection } from './real.ts';

/** Rounds of the real-size train step (one step per engine per round; at least 5 for the median). */
const REAL_ROUNDS = 5;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The anchor's interpreter; SELFPLAY_BENCH_PYTHON overrides it (e.g. to check the anchor-missing path). */
const PYTHON = process.env.SELFPLAY_BENCH_PYTHON || '/usr/bin/python3';
const ANCHOR_SCRIPT = path.join(ROOT, 'bench', 'torch_anchor.py');
const ANCHOR_START_TIMEOUT_MS = 300_000; // the real size builds 180M parameters and runs a warm-up step first
const ANCHOR_STEP_TIMEOUT_MS = 300_000;
/** Threads for both engines: ORT intra-op threads for ours, OpenBLAS threads (torch intra-op 1) for the anchor. */
const THREADS = 2;
const OUR_WARMUP_STEPS = 2;
const GEMM_REPS_PER_ROUND = 20;
const B = 8;
const T = 128;

// ---------------------------------------------------------------------------------------------------------------
// Command line

interface Options {
  json: boolean;
  rounds: number;
  steps: number;
  shapes: string[];
  /** Which parts run: train (train steps vs PyTorch), rollout, lsp, remote (an LSP iteration through serve --tinker / local), real (the real-size section). */
  sections: string[];
  /** Fewer rounds everywhere (a smoke run; its ratios are noisier). */
  quick: boolean;
  /** Timed rollout runs per mode (0 skips the rollout bench). */
  rolloutRounds: number;
}

const KNOWN_SHAPES = ['llama-ref', 'default', 'real'];
/** The train section's shapes by default (`real` runs in the real section; `--shapes real` runs its train step alone). */
const DEFAULT_SHAPES = ['llama-ref', 'default'];
const SECTIONS = ['train', 'rollout', 'lsp', 'remote', 'real'];
const USAGE = `usage: npm run bench -- [--json] [--quick] [--sections ${SECTIONS.join(',')}] [--rounds N] [--steps K] [--shapes ${KNOWN_SHAPES.join(',')}] [--rollout-rounds R]`;

function usage(msg: string): never {
  process.stderr.write(`bench: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function parseOptions(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        json: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        steps: { type: 'string' },
        shapes: { type: 'string' },
        'rollout-rounds': { type: 'string' },
        sections: { type: 'string' },
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const shapes = (values.shapes ?? DEFAULT_SHAPES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  if (shapes.length === 0) usage('--shapes is empty');
  for (const s of shapes) if (!KNOWN_SHAPES.includes(s)) usage(`unknown shape ${JSON.stringify(s)}; known: ${KNOWN_SHAPES.join(', ')}`);
  const sections = (values.sections ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of sections) if (!SECTIONS.includes(s)) usage(`unknown section ${JSON.stringify(s)}; known: ${SECTIONS.join(', ')}`);
  const quick = values.quick ?? false;
  return {
    json: values.json ?? false,
    rounds: positiveInt('rounds', values.rounds, quick ? 5 : 8),
    steps: positiveInt('steps', values.steps, quick ? 2 : 3),
    shapes: [...new Set(shapes)],
    rolloutRounds: values['rollout-rounds'] === '0' ? 0 : positiveInt('rollout-rounds', values['rollout-rounds'], quick ? 2 : 3),
    sections,
    quick,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Deterministic uniform [0, 1) generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Rounds to `sig` significant digits (for the JSON line). */
function sig(x: number | null, digits = 4): number | null {
  return x === null || !Number.isFinite(x) ? null : Number(x.toPrecision(digits));
}

// ---------------------------------------------------------------------------------------------------------------
// The PyTorch anchor process

const children = new Set<ChildProcessWithoutNullStreams>();

function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

class AnchorError extends Error {}

/** One `bench/torch_anchor.py` process serving `step K` commands over stdin/stdout. */
interface AnchorHandle {
  torchVersion: string;
  /** K timed train steps; returns once the process has gone idle again (see `settle`). */
  steps(k: number): Promise<{ ms: number[]; optMs: number[]; loss: number }>;
  quit(): Promise<void>;
}

/** Starts the anchor; returns a handle, or the reason it is missing. */
async function startAnchor(hfConfig: Record<string, unknown>, batch: number, seq: number): Promise<AnchorHandle | string> {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const args = JSON.stringify({ config: hfConfig, batch, seq, seed: 0, threads: THREADS });
  const child = spawn(PYTHON, [ANCHOR_SCRIPT, args], {
    cwd: ROOT,
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(THREADS) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const io = new LineChannel(child);
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.delete(child);
  };
  let torchVersion: string;
  try {
    const line = await io.next(ANCHOR_START_TIMEOUT_MS, `did not print ready within ${ANCHOR_START_TIMEOUT_MS / 1000} s`);
    let ready: { ready?: boolean; torch?: string };
    try {
      ready = JSON.parse(line);
    } catch {
      throw new AnchorError(`unexpected first line: ${line.slice(0, 200)}`);
    }
    if (!ready.ready) throw new AnchorError(`unexpected first line: ${line.slice(0, 200)}`);
    torchVersion = String(ready.torch ?? 'unknown');
  } catch (e) {
    kill();
    return (e as Error).message;
  }
  return {
    torchVersion,
    async steps(k) {
      child.stdin.write(`step ${k}\n`);
      const line = await io.next(ANCHOR_STEP_TIMEOUT_MS, `no answer to "step ${k}" within ${ANCHOR_STEP_TIMEOUT_MS / 1000} s`);
      const reply = JSON.parse(line) as { ms?: number[]; opt_ms?: number[]; loss?: number; error?: string };
      if (!Array.isArray(reply.ms) || reply.ms.length !== k) throw new AnchorError(`bad reply to "step ${k}": ${line.slice(0, 200)}`);
      await settle(child.pid);
      return { ms: reply.ms, optMs: reply.opt_ms ?? [], loss: Number(reply.loss) };
    },
    async quit() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end('quit\n');
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, 3000).unref());
        await Promise.race([exited, timeout]);
      }
      kill();
    },
  };
}

/** CPU time (user + system, in clock ticks) of a process so far, or null where /proc is not available. */
function cpuTicks(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the anchor stops using CPU. After each call OpenBLAS's worker threads busy-wait (~100 ms, a full
 * core, measured) before sleeping; whatever we timed right after a reply (our step, the GEMM) would share the
 * 2 cores with that spin. Polls the process's CPU time until one 20 ms interval passes without it growing
 * (at most 1 s; a fixed 150 ms where /proc is not available).
 */
async function settle(pid: number | undefined): Promise<void> {
  let last = cpuTicks(pid);
  if (last === null) return sleep(150);
  for (let waited = 0; waited < 1000; waited += 20) {
    await sleep(20);
    const now = cpuTicks(pid);
    if (now === null || now === last) return;
    last = now;
  }
}

/** Lines of a child's stdout, with the child's death (and its last stderr line) turned into a rejection. */
class LineChannel {
  private readonly lines: string[] = [];
  private waiter?: { resolve: (line: string) => void; reject: (e: Error) => void };
  private stderrTail = '';
  private dead?: string;

  constructor(child: ChildProcessWithoutNullStreams) {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.trim()) return;
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w.resolve(line);
      else this.lines.push(line);
    });
    child.stderr.on('data', (d: Buffer) => (this.stderrTail = (this.stderrTail + d.toString()).slice(-4000)));
    child.on('error', (e) => this.fail(`could not run ${PYTHON}: ${e.message}`));
    child.on('exit', (code, signal) => {
      children.delete(child);
      // let readline deliver lines that arrived just before the exit
      setImmediate(() => this.fail(`exited (${signal ?? `code ${code}`})${this.lastStderrLine()}`));
    });
    child.stdin.on('error', () => {}); // EPIPE after the child died is reported through 'exit'
  }

  next(timeoutMs: number, timeoutMsg: string): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.dead) return Promise.reject(new AnchorError(this.dead));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new AnchorError(timeoutMsg));
      }, timeoutMs);
      this.waiter = {
        resolve: (l) => (clearTimeout(timer), resolve(l)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  private lastStderrLine(): string {
    const lines = this.stderrTail.trim().split('\n').filter(Boolean);
    return lines.length ? `: ${lines[lines.length - 1].slice(0, 300)}` : '';
  }

  private fail(reason: string): void {
    if (this.dead) return;
    this.dead = reason;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new AnchorError(reason));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes and our engine

interface ShapeSpec {
  name: string;
  /** Rounds x steps per engine, when the shape sets its own (the real size: 1 step per round). */
  rounds?: number;
  steps?: number;
  /** HF-style config dict: parsed by us, sent as is to the anchor. */
  hf: Record<string, unknown>;
  cfg: LlamaConfig;
  B: number;
  T: number;
}

const LLAMA_REF_HF: Record<string, unknown> = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 512,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};

const DEFAULT_MODEL_DIR = path.join(ROOT, 'models', 'default');

/** The shape, or the reason it is skipped. */
function shapeSpec(name: string): ShapeSpec | string {
  if (name === 'llama-ref') return { name, hf: LLAMA_REF_HF, cfg: parseModelConfig(LLAMA_REF_HF, 'llama-ref'), B, T };
  if (name === 'real') {
    const hf = realHfConfig();
    return { name, hf, cfg: parseModelConfig(hf, REAL_SHAPE), ...REAL_BATCH, rounds: REAL_ROUNDS, steps: 1 };
  }
  if (!fs.existsSync(DEFAULT_MODEL_DIR)) return 'default model not built yet; skipped';
  const file = path.join(DEFAULT_MODEL_DIR, 'config.json');
  const hf = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  return { name, hf, cfg: parseModelConfig(hf, file), B, T };
}

/** Random weights: matrices and embeddings N(0, 0.02), norm weights 1, biases 0. */
function randomWeights(cfg: LlamaConfig, seed: number): Map<string, Float32Array> {
  const normal = gaussian(rng(seed));
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (name.endsWith('norm.weight')) a.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < a.length; i++) a[i] = 0.02 * normal();
    weights.set(name, a);
  }
  return weights;
}

function randomBatch(cfg: LlamaConfig, batch: number, seq: number, seed: number): PaddedBatch {
  const rand = rng(seed);
  const seqs = Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(rand() * cfg.vocabSize)));
  return padBatch(seqs, cfg.vocabSize, seq);
}

interface OurStepTimes {
  graph: number;
  adam: number;
  total: number;
  loss: number;
}

/** Our train step on one shape: trainStep (forward + backward) then AdamW.step, timed together. */
class OurTrainer {
  private readonly engine: ModelEngine;
  private readonly batch: PaddedBatch;
  private readonly lossInputs: Record<string, HostTensor>;
  private readonly opt = new AdamW({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 });
  private readonly weights: Map<string, Float32Array>;

  constructor(spec: ShapeSpec, runtime: Runtime) {
    this.weights = randomWeights(spec.cfg, 1);
    this.engine = new ModelEngine(spec.cfg, this.weights, runtime, `bench-${spec.name}`);
    this.batch = randomBatch(spec.cfg, spec.B, spec.T, 2);
    // all tokens real: weights 1/(B*(T-1)) make the weighted NLL the mean cross-entropy, like the anchor's loss
    const n = this.batch.B * (this.batch.T - 1);
    this.lossInputs = { token_weights: { data: new Float32Array(n).fill(1 / n), dims: [this.batch.B, this.batch.T - 1] } };
  }

  async step(): Promise<OurStepTimes> {
    const t0 = performance.now();
    const r = await this.engine.trainStep(this.batch, weightedNll, this.lossInputs);
    const t1 = performance.now();
    this.opt.step(this.weights, r.grads);
    const t2 = performance.now();
    return { graph: t1 - t0, adam: t2 - t1, total: t2 - t0, loss: r.loss };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One shape: warm-up, interleaved rounds

interface RoundStat {
  ours: number; // median total ms of the round
  anchor: number | null;
  ratio: number | null;
  gemm: number; // GFLOP/s
}

interface ShapeResult {
  spec: ShapeSpec;
  flops: ReturnType<typeof trainStepFlops>;
  ours: OurStepTimes[];
  anchorMs: number[];
  anchorOptMs: number[];
  anchorVersion: string | null;
  anchorMissing: string | null;
  anchorLoss: number | null;
  rounds: RoundStat[];
  compileMs: number;
}

async function runShape(spec: ShapeSpec, opts: Options, log: (s: string) => void): Promise<ShapeResult> {
  const tag = `[${spec.name}]`;
  const flops = trainStepFlops(spec.cfg, spec.B, spec.T);
  const runtime = new Runtime({ threads: THREADS });
  try {
    log(`${tag} warming up: starting the PyTorch anchor, compiling our train graph (B=${spec.B}, T=${spec.T})`);
    const anchorStart = startAnchor(spec.hf, spec.B, spec.T);
    const ours = new OurTrainer(spec, runtime);
    const c0 = performance.now();
    await ours.step(); // includes building and compiling the graph
    const compileMs = performance.now() - c0;
    for (let i = 1; i < OUR_WARMUP_STEPS; i++) await ours.step();
    const gemm = await GemmBench.create(runtime);
    let anchor: AnchorHandle | null = null;
    let anchorMissing: string | null = null;
    const started = await anchorStart;
    if (typeof started === 'string') anchorMissing = started;
    else anchor = started;
    if (anchorMissing) log(`PyTorch anchor missing: ${anchorMissing}`);
    const anchorVersion = anchor?.torchVersion ?? null;

    const oursAll: OurStepTimes[] = [];
    const anchorAll: number[] = [];
    const anchorOptAll: number[] = [];
    const nRounds = spec.rounds ?? opts.rounds;
    const nSteps = spec.steps ?? opts.steps;
    const rounds: RoundStat[] = [];
    let anchorLoss: number | null = null;
    for (let r = 0; r < nRounds; r++) {
      const oursRound: OurStepTimes[] = [];
      let anchorRound: number[] = [];
      const runOurs = async () => {
        for (let k = 0; k < nSteps; k++) oursRound.push(await ours.step());
      };
      const runAnchor = async () => {
        if (!anchor) return;
        try {
          const reply = await anchor.steps(nSteps);
          anchorRound = reply.ms;
          anchorOptAll.push(...reply.optMs);
          anchorLoss = reply.loss;
        } catch (e) {
          anchorMissing = `failed in round ${r + 1}: ${(e as Error).message}`;
          log(`PyTorch anchor missing: ${anchorMissing}`);
          await anchor.quit();
          anchor = null;
        }
      };
      if (r % 2 === 0) {
        await runOurs();
        await runAnchor();
      } else {
        await runAnchor();
        await runOurs();
      }
      const g = await gemm.measure(GEMM_REPS_PER_ROUND);
      const oursMed = median(oursRound.map((s) => s.total));
      const anchorMed = anchorRound.length ? median(anchorRound) : null;
      const ratio = anchorMed ? oursMed / anchorMed : null;
      rounds.push({ ours: oursMed, anchor: anchorMed, ratio, gemm: g });
      oursAll.push(...oursRound);
      anchorAll.push(...anchorRound);
      const graphMed = median(oursRound.map((s) => s.graph));
      const adamMed = median(oursRound.map((s) => s.adam));
      const anchorText = anchorMed === null ? 'pytorch -' : `pytorch ${anchorMed.toFixed(1)} ms, ratio ${ratio!.toFixed(3)}`;
      log(
        `${tag} round ${r + 1}/${nRounds}: ours ${oursMed.toFixed(1)} ms (graph ${graphMed.toFixed(1)} + adam ${adamMed.toFixed(1)}), ` +
          `${anchorText}, gemm ${g.toFixed(1)} GFLOP/s${r % 2 ? ' (pytorch first)' : ''}`,
      );
    }
    if (anchor) await (anchor as AnchorHandle).quit();
    const ok = anchorMissing === null;
    return {
      spec,
      flops,
      ours: oursAll,
      anchorMs: ok ? anchorAll : [],
      anchorOptMs: ok ? anchorOptAll : [],
      anchorVersion,
      anchorMissing,
      anchorLoss: ok ? anchorLoss : null,
      rounds: ok ? rounds : rounds.map((x) => ({ ...x, anchor: null, ratio: null })),
      compileMs,
    };
  } finally {
    await runtime.release();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report

interface Summary {
  graphMs: number;
  adamMs: number;
  totalMs: number;
  anchorMs: number | null;
  ratio: number | null;
  gemm: number;
  trainGflops: number;
  fraction: number;
}

function summarize(r: ShapeResult): Summary {
  const totalMs = median(r.ours.map((s) => s.total));
  const ratios = r.rounds.map((x) => x.ratio).filter((x): x is number => x !== null);
  const gemm = median(r.rounds.map((x) => x.gemm));
  const trainGflops = r.flops.total / (totalMs * 1e6);
  return {
    graphMs: median(r.ours.map((s) => s.graph)),
    adamMs: median(r.ours.map((s) => s.adam)),
    totalMs,
    anchorMs: r.anchorMs.length ? median(r.anchorMs) : null,
    ratio: ratios.length === r.rounds.length && ratios.length ? median(ratios) : null,
    gemm,
    trainGflops,
    fraction: trainGflops / gemm,
  };
}

function table(r: ShapeResult, s: Summary, opts: Options): string {
  const { cfg, B: b, T: t, name } = r.spec;
  const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
  const range = (xs: (number | null)[], d = 1): [string, string] => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? [Math.min(...v).toFixed(d), Math.max(...v).toFixed(d)] : ['-', '-'];
  };
  const perRound = (pick: (x: OurStepTimes) => number) => {
    const out: number[] = [];
    const k = r.spec.steps ?? opts.steps;
    for (let i = 0; i < r.rounds.length; i++) out.push(median(r.ours.slice(i * k, (i + 1) * k).map(pick)));
    return out;
  };
  const rows: [string, string, string, string][] = [
    ['ours graph ms (fwd+bwd)', f(s.graphMs), ...range(perRound((x) => x.graph))],
    ['ours adam ms', f(s.adamMs), ...range(perRound((x) => x.adam))],
    ['ours total ms', f(s.totalMs), ...range(perRound((x) => x.total))],
    ['pytorch ms', f(s.anchorMs), ...range(r.rounds.map((x) => x.anchor))],
    ['ratio ours/pytorch', f(s.ratio, 3), ...range(r.rounds.map((x) => x.ratio), 3)],
    ['our GFLOP/s', f(s.trainGflops, 2), '', ''],
    [`GEMM GFLOP/s (${GEMM_SHAPE.M}x${GEMM_SHAPE.K}x${GEMM_SHAPE.N})`, f(s.gemm, 2), ...range(r.rounds.map((x) => x.gemm), 2)],
    ['fraction of GEMM', f(s.fraction, 3), '', ''],
  ];
  const lastLoss = r.ours.length ? r.ours[r.ours.length - 1].loss : NaN;
  const head =
    `${name}: ${cfg.architecture} V=${cfg.vocabSize} C=${cfg.hiddenSize} I=${cfg.intermediateSize} L=${cfg.numLayers} ` +
    `H=${cfg.numHeads} KV=${cfg.numKvHeads} D=${cfg.headDim}; B=${b} T=${t}; ` +
    `${(r.flops.linearParams / 1e6).toFixed(2)}M linear params, ${(r.flops.total / 1e9).toFixed(2)} GFLOP/step (matmul, fwd+bwd)\n` +
    `  ${r.rounds.length} rounds x ${r.spec.steps ?? opts.steps} steps per engine, threads ${THREADS}; ` +
    `anchor: ${r.anchorMissing ? `missing (${r.anchorMissing})` : `pytorch ${r.anchorVersion}`}; ` +
    `our first step (compile) ${r.compileMs.toFixed(0)} ms; last loss ours ${lastLoss.toFixed(4)}, pytorch ${f(r.anchorLoss, 4)}\n`;
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const line = (c: string[]) => `  ${c[0].padEnd(w0)}  ${c[1].padStart(9)}  ${c[2].padStart(9)}  ${c[3].padStart(9)}`;
  return [head + line(['', 'median', 'round min', 'round max']), ...rows.map(line)].join('\n') + '\n';
}

function jsonKeys(prefix: string, s: Summary): Record<string, number | null> {
  return {
    [`${prefix}train_step_ratio_vs_pytorch`]: sig(s.ratio),
    [`${prefix}train_flops_fraction_of_gemm`]: sig(s.fraction),
    [`${prefix}train_step_ms`]: sig(s.totalMs),
    [`${prefix}train_step_graph_ms`]: sig(s.graphMs),
    [`${prefix}train_step_optimizer_ms`]: sig(s.adamMs),
    [`${prefix}pytorch_step_ms`]: sig(s.anchorMs),
    [`${prefix}gemm_gflops`]: sig(s.gemm),
    [`${prefix}train_gflops`]: sig(s.trainGflops),
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions();
  const out = (s: string) => (opts.json ? process.stderr : process.stdout).write(s);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (os.availableParallelism() !== THREADS) {
    log(`note: this machine has ${os.availableParallelism()} cores; both engines are pinned to ${THREADS} threads`);
  }
  const json: Record<string, unknown> = {};
  const versions: string[] = [];
  const has = (section: string) => opts.sections.includes(section);
  const trainShape = async (name: string, prefix: string): Promise<Summary | null> => {
    const spec = shapeSpec(name);
    if (typeof spec === 'string') {
      out(`${spec}\n`);
      return null;
    }
    const result = await runShape(spec, opts, log);
    const summary = summarize(result);
    out(`\n${table(result, summary, opts)}`);
    if (result.anchorMissing) out(`PyTorch anchor missing: ${result.anchorMissing}\n`);
    else if (result.anchorVersion) versions.push(result.anchorVersion);
    Object.assign(json, jsonKeys(prefix, summary));
    if (result.anchorOptMs.length) json[`${prefix}pytorch_step_optimizer_ms`] = sig(median(result.anchorOptMs));
    return summary;
  };
  if (has('train')) for (const name of opts.shapes) await trainShape(name, name === 'llama-ref' ? '' : `${name}_`);
  if (has('rollout') && opts.rolloutRounds > 0) {
    const r = await measureRollout(DEFAULT_MODEL_DIR, THREADS, opts.rolloutRounds, log);
    const peerText =
      r.peer === null
        ? `llama.cpp peer missing: ${r.peerMissing}`
        : `llama.cpp ${r.peer.toFixed(0)} tok/s, ratio ours/llama.cpp ${(r.withReuse / r.peer).toFixed(2)} ` +
          `(no reuse ${(r.withoutReuse / r.peer).toFixed(2)}; target >= 2)\n  peer: ${r.peerDescription}`;
    out(
      `\nrollout (${r.model}): prefix reuse ${r.withReuse.toFixed(0)} tok/s, no reuse ${r.withoutReuse.toFixed(0)} tok/s ` +
        `(median of ${opts.rolloutRounds}); ${peerText}\n`,
    );
    json.rollout_tokens_per_s = sig(r.withReuse);
    json.rollout_tokens_per_s_no_prefix_reuse = sig(r.withoutReuse);
    json.rollout_ratio_vs_llamacpp = r.peer === null ? 'peer missing' : sig(r.withReuse / r.peer);
    json.rollout_llamacpp_tokens_per_s = sig(r.peer);
  }
  if (has('lsp') && opts.rolloutRounds > 0) {
    const lsp = await measureLspIteration(DEFAULT_MODEL_DIR, THREADS, opts.rolloutRounds);
    if (typeof lsp === 'string') out(`\nLSP iteration: skipped (${lsp})\n`);
    else {
      const parts = Object.entries(lsp.split).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
      out(`\nLSP iteration (N=8, G=4, lsp mode, default model): ${lsp.seconds.toFixed(2)} s (goal <= 3) = ${parts}; ${lsp.compiles} graphs compiled in the timed iterations\n`);
      json.lsp_iteration_s = sig(lsp.seconds);
      json.lsp_iteration_split = Object.fromEntries(Object.entries(lsp.split).map(([k, v]) => [k, sig(v)]));
      json.lsp_steady_state_compiles = lsp.compiles;
    }
  }
  if (has('remote')) {
    const r = await measureRemoteOverhead(DEFAULT_MODEL_DIR, THREADS, Math.max(5, opts.quick ? 5 : opts.rounds), log);
    if (typeof r === 'string') out(`\nremote LSP iteration: skipped (${r})\n`);
    else {
      out(
        `\nremote LSP iteration (N=8, G=4, serve --tinker on loopback / local, same loss and seeds): ratio ${r.ratio.toFixed(2)} ` +
          `(rounds ${r.min.toFixed(2)}..${r.max.toFixed(2)}, median of ${r.rounds}; goal <= 1.3); remote ${r.remoteSeconds.toFixed(2)} s, local ${r.localSeconds.toFixed(2)} s\n`,
      );
      json.remote_iteration_overhead_ratio = sig(r.ratio);
      json.remote_iteration_overhead_ratio_spread = [sig(r.min), sig(r.max)];
      json.remote_iteration_s = sig(r.remoteSeconds);
      json.remote_local_iteration_s = sig(r.localSeconds);
    }
  }
  if (has('real')) await realSection({ threads: THREADS, quick: opts.quick, json, out, log, trainShape: (name) => trainShape(name, 'real_') });
  json.anchor = versions.length ? `pytorch ${[...new Set(versions)].join(',')}` : 'missing';
  if (opts.json) process.stdout.write(`${JSON.stringify(json)}\n`);
}

main().then(
  () => {
    killChildren();
    process.exitCode = 0;
  },
  (e: unknown) => {
    killChildren();
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
