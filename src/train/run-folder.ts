/**
 * The run folder's files: config.json, metrics.jsonl, samples.jsonl (see docs/architecture.md). Whole files are written
 * to a temporary name and renamed; JSONL logs are appended a line at a time, and on resume cut back atomically to
 * the last checkpointed iteration so a resumed run's logs read as if it had never stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { fsCall, isInside, probeWritable, realPathOf, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';

export { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';

/** Reads a JSON file, naming it in any error. */
export function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: cannot read as JSON (${(e as Error).message})`);
  }
}

/** Reads JSONL records (a torn last line, from a crash mid-append, is dropped). */
export function readJsonl(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  const lines = fsCall(file, () => fs.readFileSync(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const out: Record<string, unknown>[] = [];
  lines.forEach((l, i) => {
    try {
      out.push(JSON.parse(l));
    } catch (e) {
      if (i < lines.length - 1) throw new InputError(`${file}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
  });
  return out;
}

/** An append-only JSONL log whose records carry their step under `key` (`iteration`, or `step` in pretraining). */
export class JsonlLog {
  constructor(
    readonly file: string,
    readonly key = 'iteration',
  ) {}

  /** One line per record, in a single append write (a crash tears at most the last line, which reads drop). */
  append(record: Record<string, unknown>): void {
    fsCall(this.file, () => fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`));
  }

  /** Keeps only the records whose step is <= `last` (atomic rewrite): a resumed run's log reads as if it never stopped. */
  truncateTo(last: number): void {
    const kept = readJsonl(this.file).filter((r) => typeof r[this.key] === 'number' && (r[this.key] as number) <= last);
    writeFileAtomic(this.file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

/** The file that makes a folder a selfplay run: written first, when the run is created. */
export const RUN_MARKER = 'selfplay-run.json';
/** Version of the run folder's layout; a newer one is refused by older code. */
export const RUN_FORMAT_VERSION = 1;

export type RunKind = 'train' | 'pretrain' | 'eval' | 'experiment';

/**
 * Folders made before the marker existed are recognised by what selfplay wrote into them (all names must be there).
 * A user's folder that happens to hold such names is not a risk the marker can remove; these are specific enough.
 */
const LEGACY_SIGNS: Record<RunKind, string[][]> = {
  train: [
    ['config.json', 'metrics.jsonl', 'checkpoints'],
    ['config.json', 'metrics.jsonl', 'samples.jsonl'],
  ],
  pretrain: [['tokenizer', 'checkpoints', 'log.jsonl']],
  eval: [['judgements.jsonl'], ['eval.json', 'eval.md'], ['world-quality.json', 'world-quality.md'], ['accuracy.json', 'accuracy.md', 'answers']],
  experiment: [['experiment.json', 'grpo-prompts.jsonl']],
};

type FolderState = { is: 'absent' | 'empty' | 'foreign' } | { is: 'run'; kind: RunKind | 'unknown'; legacy: boolean };

function folderState(dir: string): FolderState {
  if (!fs.existsSync(dir)) return { is: 'absent' };
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`${dir} is a file; a run folder must be a folder`);
  const names = fsCall(dir, () => fs.readdirSync(dir));
  if (names.length === 0) return { is: 'empty' };
  if (names.includes(RUN_MARKER)) {
    const m = readJson(path.join(dir, RUN_MARKER)) as { kind?: unknown; version?: unknown };
    if (typeof m.version === 'number' && m.version > RUN_FORMAT_VERSION) {
      throw new InputError(`${path.join(dir, RUN_MARKER)}: run format version ${m.version} is newer than this selfplay reads (${RUN_FORMAT_VERSION}); update selfplay`);
    }
    const kind = Object.keys(LEGACY_SIGNS).includes(m.kind as string) ? (m.kind as RunKind) : 'unknown';
    return { is: 'run', kind, legacy: false };
  }
  const have = new Set(names);
  for (const [kind, signs] of Object.entries(LEGACY_SIGNS)) {
    if (signs.some((sign) => sign.every((n) => have.has(n)))) return { is: 'run', kind: kind as RunKind, legacy: true };
  }
  return { is: 'foreign' };
}

export interface ClaimOptions {
  kind: RunKind;
  /** new: must not hold a run yet; resume: must hold one; either: continue one or start one (eval, experiment). */
  intent: 'new' | 'resume' | 'either';
  /** The flag that named the folder, for messages (`--out`, `--resume`). */
  flag: string;
  /** What the command reads, by flag: the run folder may not be, contain, or sit inside any of them. */
  reads?: Record<string, string | undefined>;
}

/**
 * Checks, before anything is written, that `dir` may be used: it is new, empty, or a selfplay run of this kind
 * (as `intent` asks), and it does not overlap a folder the command reads. Returns whether a run is being continued.
 */
export function claimRunFolder(dir: string, o: ClaimOptions): { continuing: boolean } {
  const out = realPathOf(dir);
  for (const [flag, read] of Object.entries(o.reads ?? {})) {
    if (read === undefined) continue;
    const r = realPathOf(read);
    if (isInside(out, r)) throw new InputError(`${o.flag} ${dir} is ${out === r ? '' : 'inside '}${flag} ${read}; a command never writes into a folder it reads. Choose another ${o.flag}`);
    if (isInside(r, out)) throw new InputError(`${flag} ${read} is inside ${o.flag} ${dir}; a run folder must not hold what the run reads. Choose another ${o.flag}`);
  }
  const s = folderState(dir);
  if (s.is === 'foreign') {
    throw new InputError(`${o.flag} ${dir}: the folder holds files selfplay did not write (no ${RUN_MARKER}); nothing was changed. Choose a new or empty folder`);
  }
  if (s.is === 'run' && s.kind !== o.kind) {
    throw new InputError(`${o.flag} ${dir} holds a selfplay ${s.kind} run, not a ${o.kind} run; choose another folder`);
  }
  const isRun = s.is === 'run';
  // a run stopped before its first checkpoint has nothing to continue: it may be started again in place
  if (isRun && o.intent === 'new' && !hasCheckpoint(dir)) return { continuing: false };
  if (isRun && o.intent === 'new') throw new InputError(`${dir} already holds a ${o.kind} run; continue it with --resume ${dir}, or choose another ${o.flag}`);
  if (!isRun && o.intent === 'resume') throw new InputError(`--resume ${dir}: no ${o.kind} run there (no ${RUN_MARKER}); nothing to resume`);
  return { continuing: isRun };
}

const hasCheckpoint = (dir: string) => fs.existsSync(path.join(dir, 'checkpoints')) && fs.readdirSync(path.join(dir, 'checkpoints')).some((n) => /^iter-\d+$/.test(n));

/** Writes the marker if the folder has none (a new run, or one made before markers existed). */
export function markRunFolder(dir: string, kind: RunKind): void {
  const file = path.join(dir, RUN_MARKER);
  if (fs.existsSync(file)) return;
  writeJsonAtomic(file, { format: 'selfplay run folder', version: RUN_FORMAT_VERSION, kind, created: new Date().toISOString() });
}

/**
 * Before any compute: the run folder and its checkpoints/ can be written (a probe file is written and removed);
 * a new run gets its marker here, first of all its files.
 */
export function prepareRunFolder(dir: string, kind: RunKind, continuing: boolean): void {
  probeWritable(dir);
  if (!continuing) markRunFolder(dir, kind);
  probeWritable(path.join(dir, 'checkpoints'));
}
