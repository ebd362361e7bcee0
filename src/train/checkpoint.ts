/**
 * Checkpoints: a folder `checkpoints/iter-NNNNNN/` with state.json (step, RNG state, run info, the optimizer's step
 * count, and a manifest: every other file's size and sha256) and what the backend's saveState writes: for the local
 * backend the optimizer state (optimizer.safetensors: first and second moments) and either the whole model (HF
 * layout: config.json + model.safetensors, tokenizer files copied) or, for LoRA, only the adapters (the base is the
 * run's frozen model). Written into a temporary folder and renamed into place, so a crash
 * never leaves a half-written checkpoint; the manifest catches one damaged afterwards (a bad disk, a truncated copy).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ModelFormatError } from '../errors.ts';
import type { PolicyBackend } from '../backend/backend.ts';
import { OPTIMIZER_FILE } from '../backend/optimizer-file.ts';
import { saveFolderAtomic } from '../util/fs.ts';

export interface CheckpointState {
  step: number;
  rngState: number;
  /** Anything else the trainer needs to resume (phase, tokens seen, wall time...). */
  extra: Record<string, unknown>;
}

export interface CheckpointContents {
  /** Writes the trainable weights and the optimizer state (LSP/GRPO, pretraining). */
  backend: Pick<PolicyBackend, 'saveState'>;
  state: CheckpointState;
  /** More files for the same atomic folder (e.g. a LoRA adapter). */
  extraFiles?: (tmpDir: string) => void;
}

/** A file's size and content hash, recorded at save time. */
export interface FileRecord {
  bytes: number;
  sha256: string;
}

const STATE_FILE = 'state.json';

const writeJson = (file: string, value: unknown) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** sha256 of a file, read in 8 MiB pieces (a checkpoint can be gigabytes). */
export function fileSha256(file: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Every file under `dir` but state.json, by relative path. */
function manifestOf(dir: string, sub = ''): Record<string, FileRecord> {
  const out: Record<string, FileRecord> = {};
  for (const e of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
    const rel = path.join(sub, e.name);
    if (e.isDirectory()) Object.assign(out, manifestOf(dir, rel));
    else if (rel !== STATE_FILE) out[rel] = { bytes: fs.statSync(path.join(dir, rel)).size, sha256: fileSha256(path.join(dir, rel)) };
  }
  return out;
}

/** Writes a checkpoint folder atomically; state.json goes last, with the manifest of everything before it. */
export function saveCheckpoint(dir: string, c: CheckpointContents): void {
  saveFolderAtomic(dir, (tmp) => {
    const { optimizerStep } = c.backend.saveState(tmp, dir);
    c.extraFiles?.(tmp);
    writeJson(path.join(tmp, STATE_FILE), { ...c.state, optimizerStep, files: manifestOf(tmp) });
  });
}

function readState(dir: string): CheckpointState & { optimizerStep?: number; files?: Record<string, FileRecord> } {
  const file = path.join(dir, STATE_FILE);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read checkpoint state (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Why the checkpoint in `dir` cannot be trusted, or null when every file has the size and sha256 recorded at save
 * time. A checkpoint saved before manifests existed passes when its state reads and its optimizer file is there.
 */
export function checkpointProblem(dir: string): string | null {
  let state: ReturnType<typeof readState>;
  try {
    state = readState(dir);
  } catch (e) {
    return (e as Error).message;
  }
  if (!state.files) return fs.existsSync(path.join(dir, OPTIMIZER_FILE)) ? null : `${OPTIMIZER_FILE} is missing`;
  for (const [name, want] of Object.entries(state.files)) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) return `${name} is missing`;
    const bytes = fs.statSync(file).size;
    if (bytes !== want.bytes) return `${name} has ${bytes} bytes, ${want.bytes} when saved`;
    if (fileSha256(file) !== want.sha256) return `${name} differs from the file saved (sha256)`;
  }
  return null;
}

/** The trainer state of a checkpoint folder and the optimizer's step count (what a backend's loadState needs). */
export function loadCheckpointMeta(dir: string): { state: CheckpointState; optimizerStep: number } {
  const raw = readState(dir);
  if (!Number.isInteger(raw.step) || !Number.isInteger(raw.optimizerStep)) {
    throw new ModelFormatError(`${path.join(dir, STATE_FILE)}: fields step and optimizerStep must be integers`);
  }
  return { state: { step: raw.step, rngState: raw.rngState, extra: raw.extra ?? {} }, optimizerStep: raw.optimizerStep! };
}

export const CHECKPOINT_NAME = /^iter-\d+$/;
export const checkpointName = (step: number) => `iter-${String(step).padStart(6, '0')}`;

/** The `iter-NNNNNN` checkpoints under `dir/checkpoints`, newest first. */
export function checkpointsNewestFirst(dir: string): string[] {
  const root = path.join(dir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((n) => CHECKPOINT_NAME.test(n))
    .sort()
    .reverse()
    .map((n) => path.join(root, n));
}

/** Deletes all but the newest `keep` checkpoints. */
export function pruneCheckpoints(dir: string, keep = 2): void {
  for (const old of checkpointsNewestFirst(dir).slice(keep)) fs.rmSync(old, { recursive: true, force: true });
}
