/**
 * A judgement cache on disk: JSON Lines, one `{"key", "value"}` per judgement, appended as soon as it arrives, so
 * an interrupted evaluation resumes without asking the judge again. Each line goes out in one append write; a line
 * torn by a crash is skipped on load (and the file is given a newline first, so the next line starts clean).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** sha256 of the JSON of `parts` (e.g. judge model + messages + sampling settings). */
export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class JudgementCache {
  private readonly entries = new Map<string, string>();
  /** Lines that could not be read (torn by a crash, or edited by hand). */
  readonly skippedLines: number = 0;

  constructor(readonly file: string) {
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      return;
    }
    const text = fs.readFileSync(file, 'utf8');
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const { key, value } = JSON.parse(line) as { key?: unknown; value?: unknown };
        if (typeof key === 'string' && typeof value === 'string') this.entries.set(key, value);
        else skipped++;
      } catch {
        skipped++;
      }
    }
    this.skippedLines = skipped;
    if (text.length > 0 && !text.endsWith('\n')) fs.appendFileSync(file, '\n');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  /** Records `value` in memory and appends it to the file as one line. */
  put(key: string, value: string): void {
    this.entries.set(key, value);
    fs.appendFileSync(this.file, `${JSON.stringify({ key, value })}\n`);
  }
}
