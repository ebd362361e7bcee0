/**
 * Helpers of the reliability suite: `selfplay train` as a child process on the shipped model with tiny settings,
 * and comparisons of two run folders (metrics without timings, samples, final weights byte for byte).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readJsonl } from '../../src/train/run-folder.ts';

export const root = path.join(import.meta.dirname, '..', '..');
export const defaultModel = path.join(root, 'models', 'default');
export const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `reliability-${name}-`));

/** Tiny LSP settings on models/default: a run of a few iterations takes seconds. */
export const TINY = ['--N', '2', '--G', '2', '--solver-max-tokens', '16', '--challenger-max-tokens', '24', '--judge-max-tokens', '48', '--quiet'];

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  done: Promise<Finished>;
}

/** Starts `selfplay ...args` (optionally as another user); `done` resolves when it exits. */
export function start(args: string[], opts: { uid?: number } = {}): Started {
  const id = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid };
  const child = spawn(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'], ...id });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Finished>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

export async function run(args: string[], opts: { uid?: number } = {}): Promise<Finished> {
  return start(args, opts).done;
}

export async function runOk(args: string[]): Promise<Finished> {
  const r = await run(args);
  assert.equal(r.code, 0, `selfplay ${args.join(' ')} failed:\n${r.stderr}`);
  return r;
}

const untimed = (rows: Record<string, unknown>[]) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('time/') && k !== 'tokens_per_s')));

/** What differs between two finished run folders (empty when metrics, samples and final weights are equal). */
export function differences(a: string, b: string): string[] {
  const out: string[] = [];
  const ma = untimed(readJsonl(path.join(a, 'metrics.jsonl')));
  const mb = untimed(readJsonl(path.join(b, 'metrics.jsonl')));
  if (JSON.stringify(ma) !== JSON.stringify(mb)) out.push(`metrics.jsonl (${ma.length} vs ${mb.length} records)`);
  if (JSON.stringify(readJsonl(path.join(a, 'samples.jsonl'))) !== JSON.stringify(readJsonl(path.join(b, 'samples.jsonl')))) out.push('samples.jsonl');
  const wa = path.join(a, 'model', 'model.safetensors');
  const wb = path.join(b, 'model', 'model.safetensors');
  if (!fs.existsSync(wb)) out.push('no model/ in the resumed run');
  else if (!fs.readFileSync(wa).equals(fs.readFileSync(wb))) out.push('model/model.safetensors (weights)');
  return out;
}

/** Complete records in a (possibly torn) JSONL log. */
export const completeRecords = (file: string) => (fs.existsSync(file) ? readJsonl(file).length : 0);

/** The checkpoint a resume said it continued from (0 when it started over). */
export function resumedFrom(stderr: string): number {
  const m = /continuing from iter-(\d+)/.exec(stderr);
  return m ? Number(m[1]) : 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves with the first name matching `pattern` that appears in `dir` (polled until it exists, then watched), or
 * null after `timeoutMs`.
 */
export async function waitForEntry(dir: string, pattern: RegExp, timeoutMs: number): Promise<string | null> {
  const until = Date.now() + timeoutMs;
  while (!fs.existsSync(dir)) {
    if (Date.now() > until) return null;
    await sleep(20);
  }
  return new Promise((resolve) => {
    const watcher = fs.watch(dir, (_event, name) => {
      if (name && pattern.test(name)) finish(name);
    });
    const timer = setTimeout(() => finish(null), Math.max(0, until - Date.now()));
    function finish(name: string | null) {
      clearTimeout(timer);
      watcher.close();
      resolve(name);
    }
  });
}
