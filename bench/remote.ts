/**
 * `remote_iteration_overhead_ratio`: one LSP iteration (N=8, G=4, lsp mode, default model) trained through
 * `selfplay serve --tinker` on loopback (a child process with the same ORT threads) over one trained by the
 * LocalBackend of this process. Both compute the same thing (policyLoss importance_sampling, the same seeds: a
 * remote run draws the same tokens), so the ratio is what the Tinker API costs: HTTP + JSON, futures, polling, and
 * the sampler snapshot the service saves after every step. After a warm-up iteration on each (graph compiles), each
 * round times one iteration of each, alternating which goes first; the ratio is the median over rounds of
 * remote/local, with its spread (min..max). Goal <= 1.3.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendCompleter } from '../src/backend/chat.ts';
import { LocalBackend } from '../src/backend/local.ts';
import { TinkerBackend } from '../src/backend/tinker.ts';
import { verifierReward } from '../src/game/rollout.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { type IterationModels, runIteration } from '../src/train/lsp-iteration.ts';
import { runSettings } from '../src/train/settings.ts';

const ROOT = path.join(import.meta.dirname, '..');

export interface TinkerServerProcess {
  url: string;
  child: ChildProcess;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

/** `selfplay serve --tinker --model <model> --state-dir <stateDir> --port 0`; resolves once it listens. */
export function startTinkerServer(model: string, stateDir: string, threads: number, timeoutMs = 120_000): Promise<TinkerServerProcess> {
  const args = ['serve', '--tinker', '--model', model, '--state-dir', stateDir, '--port', '0', '--threads', String(threads), '--quiet'];
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'selfplay.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => void kill().then(() => reject(new Error(`serve --tinker did not start within ${timeoutMs / 1000} s: ${err}`))), timeoutMs);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /Tinker API at (http:\/\/[0-9.]+:\d+)\/api\/v1/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, kill });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve --tinker exited (${code}) before listening: ${err}`));
    });
  });
}

export interface RemoteBench {
  /** Median over rounds of remote/local seconds, and the rounds' min and max. */
  ratio: number;
  min: number;
  max: number;
  localSeconds: number;
  remoteSeconds: number;
  rounds: number;
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

export async function measureRemoteOverhead(modelDir: string, threads: number, rounds: number, log: (s: string) => void): Promise<RemoteBench | string> {
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) return `no model at ${modelDir}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-remote-'));
  // no memory arenas, as the server runs (serve --tinker): the same engine settings on both sides, and an arena per
  // graph shape would hold GBs (a default-model iteration with arenas passed 6 GB and met the OOM killer)
  const runtime = new Runtime({ threads, memoryArena: false });
  let server: TinkerServerProcess | null = null;
  try {
    server = await startTinkerServer(modelDir, path.join(tmp, 'state'), threads);
    const config = resolveConfig({ model: modelDir, out: tmp, N: 8, G: 4, mode: 'lsp', policyLoss: 'importance_sampling' });
    const s = runSettings(config, runtime, threads);
    const local = new LocalBackend({ model: modelDir, chatTemplate: null, lora: null, seed: s.seed, runtime, adam: { lr: s.lr, weightDecay: s.weightDecay, gradClip: s.gradClip } });
    local.start();
    const remote = new TinkerBackend({
      http: { url: server.url, apiKey: null, retries: 3, requestTimeoutMs: 600_000, futureTimeoutMs: 600_000 },
      baseModel: null,
      lora: null,
      seed: s.seed,
      adam: { weightDecay: s.weightDecay, gradClip: s.gradClip },
      runName: 'bench',
    });
    await remote.connect();
    const text = ChatModel.load(modelDir, runtime, 'text', { textOnly: true });
    const models = (b: LocalBackend | TinkerBackend, t: ChatModel): IterationModels => ({ backend: b, policy: backendCompleter(t, b.policy), reference: backendCompleter(t, b.reference), reward: verifierReward });
    const mLocal = models(local, local.referenceModel);
    const mRemote = models(remote, text);
    await runIteration(s, mLocal, 0); // warm-up: both compile their graphs
    await runIteration(s, mRemote, 0);
    const ratios: number[] = [];
    const l: number[] = [];
    const r: number[] = [];
    for (let i = 1; i <= rounds; i++) {
      const runLocal = () => timed(() => runIteration(s, mLocal, i));
      const runRemote = () => timed(() => runIteration(s, mRemote, i));
      const [a, b] = i % 2 ? [await runLocal(), await runRemote()] : [await runRemote(), await runLocal()].reverse();
      l.push(a);
      r.push(b);
      ratios.push(b / a);
      log(`remote overhead round ${i}/${rounds}: local ${a.toFixed(2)} s, remote ${b.toFixed(2)} s, ratio ${(b / a).toFixed(2)}`);
    }
    return { ratio: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), localSeconds: median(l), remoteSeconds: median(r), rounds };
  } finally {
    await server?.kill();
    await runtime.release();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
