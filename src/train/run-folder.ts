/**
 * The run folder's files: config.json, metrics.jsonl, samples.jsonl (see docs/architecture.md). Whole files are written
 * to a temporary name and renamed; JSONL logs are appended a line at a time, and on resume cut back atomically to
 * the last checkpointed iteration so a resumed run's logs read as if it had never stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.ts';

/** Writes `text` to `file` via a temporary file in the same folder, then renames it into place. */
export function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export const writeJsonAtomic = (file: string, value: unknown) => writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);

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
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
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

/** An append-only JSONL log. */
export class JsonlLog {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  }

  append(record: Record<string, unknown>): void {
    fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }

  /** Keeps only the records whose `iteration` is <= `last` (atomic rewrite). */
  truncateTo(last: number): void {
    const kept = readJsonl(this.file).filter((r) => typeof r.iteration === 'number' && r.iteration <= last);
    writeFileAtomic(this.file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}
