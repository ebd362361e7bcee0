/**
 * A one-line progress bar with rate and ETA for long work, written to stderr (a TTY redraws in place; logs get
 * a line every `logEvery` ms). Library code reports through it; it never exits or throws.
 */
export interface ProgressOptions {
  total: number;
  label: string;
  /** Quiet mode: no bar, only periodic log lines. */
  quiet?: boolean;
  logEveryMs?: number;
  stream?: NodeJS.WriteStream;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s % 60}s`;
}

export class Progress {
  private readonly start = Date.now();
  private lastLog = 0;
  private lastLoggedDone = -1;
  private done = 0;
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly opts: ProgressOptions, private readonly startAt = 0) {
    this.stream = opts.stream ?? process.stderr;
    this.done = startAt;
  }

  /** Marks progress up to `done` units, with a short status (latest loss, rewards...). */
  update(done: number, status = ''): void {
    this.done = done;
    const now = Date.now();
    const elapsed = (now - this.start) / 1000;
    const rate = (done - this.startAt) / Math.max(elapsed, 1e-9);
    const eta = rate > 0 ? (this.opts.total - done) / rate : Infinity;
    const frac = Math.min(1, done / Math.max(1, this.opts.total));
    const text = `${this.opts.label} ${done}/${this.opts.total} ${(100 * frac).toFixed(0)}% | ${formatDuration(elapsed)} elapsed, ETA ${formatDuration(eta)}${status ? ` | ${status}` : ''}`;
    if (this.stream.isTTY && !this.opts.quiet) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else if ((now - this.lastLog >= (this.opts.logEveryMs ?? 10_000) || done >= this.opts.total) && done !== this.lastLoggedDone) {
      this.stream.write(`${text}\n`);
      this.lastLog = now;
      this.lastLoggedDone = done;
    }
  }

  finish(status = ''): void {
    this.update(this.done, status);
    if (this.stream.isTTY && !this.opts.quiet) this.stream.write('\n');
  }
}
