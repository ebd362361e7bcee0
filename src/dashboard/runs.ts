/**
 * The run folders under RUNS_DIR, read-only: found by their metrics.jsonl or a run's config.json (up to 3 levels deep,
 * so an experiment's arms are found too), each tailed as it grows. Names are paths relative to RUNS_DIR; a request
 * names a run only by one of these, never by a path of its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { diversityOverTraining, windowSize } from '../experiment/diversity.ts';
import { classify } from '../world/world.ts';
import { collectResults } from './results.ts';
import { fileInside } from './safe-path.ts';
import { JsonlTail } from './tail.ts';
import { downsample, type FeedFilter, type FeedItem, type FeedKey, feedKey, type FeedPage, type GuardEvent, pageIndices, type RunSummary, type RunView, type SampleAnswer } from './view-data.ts';

const SKIP = new Set(['checkpoints', 'model', 'adapter', 'node_modules', 'tokenizer', '.git']);
const LIVE_MS = 60_000;

interface SampleKey extends FeedKey {
  query: string;
}

/** One run folder and its tailed logs. */
export class RunFolder {
  readonly metrics: JsonlTail;
  readonly samples: JsonlTail<SampleKey>;

  constructor(readonly name: string, readonly dir: string, readonly root: string) {
    const inside = (f: string) => fileInside(root, f);
    this.metrics = new JsonlTail(path.join(dir, 'metrics.jsonl'), undefined, inside);
    this.samples = new JsonlTail(path.join(dir, 'samples.jsonl'), sampleKey, inside);
  }

  config(): Record<string, unknown> | null {
    const file = path.join(this.dir, 'config.json');
    if (!fileInside(this.root, file)) return null;
    try {
      const c = JSON.parse(fs.readFileSync(file, 'utf8'));
      return typeof c === 'object' && c !== null && !Array.isArray(c) ? c : null;
    } catch {
      return null;
    }
  }

  summary(): RunSummary {
    this.metrics.refresh();
    const c = this.config();
    // the newest of the logs and the config (a run that just started has only its config.json)
    const updated = Math.max(0, ...['metrics.jsonl', 'samples.jsonl', 'config.json'].map((f) => {
      try {
        return fs.statSync(path.join(this.dir, f)).mtimeMs;
      } catch {
        return 0;
      }
    }));
    const finished = fs.existsSync(path.join(this.dir, 'model'));
    return {
      name: this.name,
      mode: typeof c?.mode === 'string' ? c.mode : '?',
      model: typeof c?.model === 'string' ? c.model : '?',
      planned: typeof c?.iterations === 'number' ? c.iterations : NaN,
      done: this.metrics.records.length,
      live: !finished && Date.now() - updated < LIVE_MS,
      guardTrips: this.metrics.records.filter((r) => Array.isArray(r.value.guards) && r.value.guards.length > 0).length,
      updated,
    };
  }

  /** Every numeric metric, as curves of at most `maxPoints` points. */
  series(maxPoints: number) {
    this.metrics.refresh();
    const rows = this.metrics.records.map((r) => r.value);
    const keys = new Set<string>();
    for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'iteration') keys.add(k);
    const iterations = rows.map((r, i) => (typeof r.iteration === 'number' ? r.iteration : i + 1));
    const values = Object.fromEntries([...keys].map((k) => [k, rows.map((r) => (typeof r[k] === 'number' ? (r[k] as number) : NaN))]));
    return downsample(iterations, values, maxPoints);
  }

  guards(): GuardEvent[] {
    this.metrics.refresh();
    return this.metrics.records.flatMap(({ value: r }) =>
      Array.isArray(r.guards) ? r.guards.map((g: Record<string, unknown>) => ({ iteration: Number(r.iteration), guard: String(g.guard), message: String(g.message) })) : [],
    );
  }

  feed(filter: FeedFilter, offset: number, limit: number): FeedPage {
    this.samples.refresh();
    const { total, indices } = pageIndices(this.samples.records.map((r) => r.value), filter, offset, limit);
    let rows: Record<string, unknown>[];
    try {
      rows = this.samples.readRows(indices.map((i) => this.samples.records[i]));
    } catch {
      rows = []; // the file was rewritten between the refresh and the read; the next request sees it
    }
    return { total, offset, items: rows.map(feedItem) };
  }

  private diversityCache: { records: number; windows: ReturnType<typeof diversityOverTraining> } | null = null;

  /** Diversity over about 10 windows (classifying every query: cached until new samples arrive). */
  diversity() {
    this.samples.refresh();
    if (this.diversityCache?.records === this.samples.records.length) return this.diversityCache.windows;
    const qs = this.samples.records.map((r) => ({ iteration: r.value.iteration, query: r.value.query }));
    const last = qs.reduce((m, q) => Math.max(m, q.iteration), 0);
    const windows = diversityOverTraining(qs, windowSize(last, 10));
    this.diversityCache = { records: qs.length, windows };
    return windows;
  }

  view(maxPoints: number): RunView {
    return { run: this.summary(), config: this.config(), series: this.series(maxPoints), guards: this.guards(), diversity: this.diversity(), results: collectResults(this.root, this.dir) };
  }
}

function sampleKey(row: Record<string, unknown>): SampleKey | null {
  if (typeof row.iteration !== 'number' || typeof row.query !== 'string') return null;
  const answers = Array.isArray(row.answers) ? (row.answers as SampleAnswer[]) : [];
  return { ...feedKey({ iteration: row.iteration, family: typeof row.family === 'string' ? row.family : null, valid: row.valid === true, answers }), query: row.query };
}

function feedItem(row: Record<string, unknown>): FeedItem {
  const query = String(row.query ?? '');
  const c = classify(query);
  const answers = Array.isArray(row.answers) ? (row.answers as Record<string, unknown>[]) : [];
  const numOrNull = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    iteration: Number(row.iteration),
    query,
    family: typeof row.family === 'string' ? row.family : c.valid ? c.family : null,
    difficulty: c.valid ? c.difficulty : null,
    valid: row.valid === true,
    invalidReason: c.valid ? null : c.reason,
    challenger_reward: numOrNull(row.challenger_reward),
    answers: answers.map((a) => ({ answer: String(a.answer ?? ''), reward: numOrNull(a.reward), self_score: numOrNull(a.self_score), judge: typeof a.judge === 'string' ? a.judge : null })),
  };
}

/** The run folders under `root` (depth <= 3), by name. Symlinked folders are not followed. */
export function findRuns(root: string, depth = 3): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string, left: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    // a run that just started has only its config.json; a model folder's config.json comes with weights
    const runConfig = files.has('config.json') && !files.has('model.safetensors') && !files.has('model.safetensors.index.json') && !files.has('tokenizer.json');
    if (rel && (files.has('metrics.jsonl') || runConfig)) out.push(rel);
    if (left === 0) return;
    for (const e of entries) if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.')) walk(path.join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, left - 1);
  };
  walk(root, '', depth);
  if (fs.existsSync(path.join(root, 'metrics.jsonl'))) out.unshift('.');
  return out.sort();
}

/** All runs under RUNS_DIR, rediscovered on demand, each folder object kept so its tails persist. */
export class RunStore {
  private readonly folders = new Map<string, RunFolder>();

  constructor(readonly root: string) {}

  list(): RunFolder[] {
    const names = findRuns(this.root);
    for (const n of names) if (!this.folders.has(n)) this.folders.set(n, new RunFolder(n, n === '.' ? this.root : path.join(this.root, ...n.split('/')), this.root));
    for (const n of [...this.folders.keys()]) if (!names.includes(n)) this.folders.delete(n);
    return names.map((n) => this.folders.get(n)!);
  }

  /** The run of that name, or undefined (a name not found by discovery is never turned into a path). */
  get(name: string): RunFolder | undefined {
    return this.folders.get(name) ?? this.list().find((r) => r.name === name);
  }

  summaries(): RunSummary[] {
    return this.list().map((r) => r.summary());
  }
}
