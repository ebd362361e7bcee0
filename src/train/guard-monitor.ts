/**
 * The guards (guards.ts) during a training run: keeps the history (read back from the run folder on resume, so
 * the early window stays the run's own), checks it after each iteration, and says what to log and whether to stop.
 */
import path from 'node:path';
import { checkGuards, guardPoint, type GuardPoint, type GuardThresholds, type GuardTrip } from './guards.ts';
import { readJsonl } from './run-folder.ts';

export interface GuardSettings {
  /** Check the guards at all. */
  guard: boolean;
  /** What a tripped guard does: warn (log and show) or stop (checkpoint and end the run). */
  onCollapse: 'warn' | 'stop';
  guards: GuardThresholds;
}

export class GuardMonitor {
  private readonly history: GuardPoint[] = [];

  constructor(readonly settings: GuardSettings) {}

  /** A monitor whose history is the run folder's iterations 1..`upTo` (a resumed run). */
  static resume(settings: GuardSettings, runFolder: string, upTo: number): GuardMonitor {
    const monitor = new GuardMonitor(settings);
    if (upTo === 0) return monitor;
    const samples = readJsonl(path.join(runFolder, 'samples.jsonl'));
    for (const m of readJsonl(path.join(runFolder, 'metrics.jsonl'))) {
      const it = m.iteration;
      if (typeof it !== 'number' || it > upTo) continue;
      monitor.history.push(guardPoint(it, m, queriesOf(samples.filter((s) => s.iteration === it))));
    }
    return monitor;
  }

  /** Adds one finished iteration; returns the guards it trips (empty when the guards are off). */
  observe(iteration: number, metrics: Record<string, unknown>, samples: readonly Record<string, unknown>[]): GuardTrip[] {
    if (!this.settings.guard) return [];
    this.history.push(guardPoint(iteration, metrics, queriesOf(samples)));
    return checkGuards(this.history, this.settings.guards);
  }

  private readonly reported = new Set<string>();

  /** Lines for the log: each guard the first time it trips, and the stop when the run ends on it. */
  report(trips: readonly GuardTrip[]): string {
    const fresh = trips.filter((t) => !this.reported.has(t.guard));
    for (const t of fresh) this.reported.add(t.guard);
    const lines = fresh.map((t) => `guard ${t.guard}: ${t.message}`);
    if (this.stops(trips)) lines.push('guard: stopping the run (on_collapse: stop); a checkpoint is saved (resume with --on-collapse warn or --no-guard to go on)');
    return lines.length ? `\n${lines.join('\n')}\n` : '';
  }

  /** Whether these trips end the run. */
  stops(trips: readonly GuardTrip[]): boolean {
    return trips.length > 0 && this.settings.onCollapse === 'stop';
  }
}

const queriesOf = (samples: readonly Record<string, unknown>[]) => samples.map((s) => s.query).filter((q): q is string => typeof q === 'string');

/** The fields a tripped iteration adds to its metrics.jsonl record. */
export function guardRecord(trips: readonly GuardTrip[]): Record<string, unknown> {
  return trips.length ? { 'guard/tripped': trips.length, guards: trips } : {};
}

/** The progress line's note about tripped guards ('' when none). */
export function guardStatus(trips: readonly GuardTrip[]): string {
  return trips.length ? ` | GUARD ${trips.map((t) => t.guard).join(',')}` : '';
}
