/**
 * Reading JSONL files that a training run is still appending to: each call reads only the bytes added since the
 * last one (a torn last line waits for its newline), and a file that shrank (a resumed run cut its log back) is
 * read again from the start. Every record keeps its byte range, so a large samples.jsonl is paged from disk.
 */
import fs from 'node:fs';

export interface TailRecord<T> {
  value: T;
  offset: number;
  length: number;
}

export class JsonlTail<T = Record<string, unknown>> {
  private offset = 0;
  private identity = '';
  readonly records: TailRecord<T>[] = [];

  /** `keep` turns a parsed line into what is held in memory (e.g. only the fields the filters need). */
  constructor(
    readonly file: string,
    private readonly keep: (row: Record<string, unknown>) => T | null = (r) => r as T,
    /** Whether the file may be read (the dashboard refuses files whose real path leaves RUNS_DIR). */
    private readonly allowed: (file: string) => boolean = () => true,
  ) {}

  /** Reads what was appended; returns whether anything changed. */
  refresh(): boolean {
    let st: fs.Stats;
    try {
      if (!this.allowed(this.file)) throw new Error('not allowed');
      st = fs.statSync(this.file);
    } catch {
      const had = this.records.length > 0;
      this.reset();
      return had;
    }
    const identity = `${st.ino}:${st.dev}`;
    if (identity !== this.identity || st.size < this.offset) {
      // replaced (an atomic rewrite on resume) or truncated: start over
      this.reset();
      this.identity = identity;
    }
    if (st.size === this.offset) return false;
    const fd = fs.openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(st.size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      let start = 0;
      for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
        this.add(buf.subarray(start, nl), this.offset + start);
        start = nl + 1;
      }
      this.offset += start;
      return start > 0;
    } finally {
      fs.closeSync(fd);
    }
  }

  private add(line: Buffer, offset: number): void {
    const text = line.toString('utf8').trim();
    if (!text) return;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      return; // a damaged line is skipped, not fatal: the dashboard only reads
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) return;
    const value = this.keep(row as Record<string, unknown>);
    if (value !== null) this.records.push({ value, offset, length: line.length });
  }

  private reset(): void {
    this.offset = 0;
    this.identity = '';
    this.records.length = 0;
  }

  /** The full parsed lines of some records, read from disk. */
  readRows(records: readonly TailRecord<T>[]): Record<string, unknown>[] {
    if (records.length === 0) return [];
    const fd = fs.openSync(this.file, 'r');
    try {
      return records.map((r) => {
        const buf = Buffer.alloc(r.length);
        fs.readSync(fd, buf, 0, r.length, r.offset);
        return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
      });
    } finally {
      fs.closeSync(fd);
    }
  }
}
