/**
 * Win rates that belong to a run: `selfplay eval` reports (eval.json) inside the run folder or anywhere under
 * RUNS_DIR whose evaluated model is this run's, and `selfplay experiment paper` results (results.json beside the
 * arms) for the arm this run is. Unreadable or foreign files are skipped: the dashboard only shows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isInside } from '../util/fs.ts';
import { fileInside } from './safe-path.ts';
import type { ResultTable, WinRateRow } from './view-data.ts';

const SKIP = new Set(['checkpoints', 'model', 'adapter', 'node_modules', 'tokenizer', '.git']);

function readObject(root: string, file: string): Record<string, unknown> | null {
  if (!fileInside(root, file)) return null;
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** A SubsetStats-like object as a row, or null when it is not one. */
function row(s: unknown, label?: string): WinRateRow | null {
  if (typeof s !== 'object' || s === null) return null;
  const o = s as Record<string, unknown>;
  const ci = (o.winRateCI ?? {}) as Record<string, unknown>;
  if (typeof o.winRate !== 'number' || typeof ci.lo !== 'number' || typeof ci.hi !== 'number') return null;
  return { subset: label ?? String(o.subset ?? ''), n: Number(o.n ?? NaN), winRate: o.winRate, lo: ci.lo, hi: ci.hi };
}

function table(source: string, title: string, overall: unknown, subsets: unknown): ResultTable | null {
  const rows = [...(Array.isArray(subsets) ? subsets.map((s) => row(s)) : []), row(overall, 'overall')].filter((r): r is WinRateRow => r !== null);
  return rows.length ? { source, title, rows } : null;
}

/** eval.json files under `root` (depth <= 4), not following symlinked folders. */
function evalFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, left: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isFile() && e.name === 'eval.json') out.push(path.join(dir, e.name));
      else if (e.isDirectory() && left > 0 && !SKIP.has(e.name) && !e.name.startsWith('.')) walk(path.join(dir, e.name), left - 1);
    }
  };
  walk(root, 4);
  return out.sort();
}

export function collectResults(root: string, runDir: string): ResultTable[] {
  const out: ResultTable[] = [];
  const rel = (f: string) => path.relative(root, f).split(path.sep).join('/');
  const run = path.resolve(runDir);
  for (const file of evalFiles(root)) {
    const r = readObject(root, file);
    if (!r) continue;
    const model = typeof r.model === 'string' ? path.resolve(r.model) : '';
    if (!isInside(path.resolve(file), run) && !(model && isInside(model, run))) continue;
    const t = table(rel(file), `${String(r.model)} vs ${String(r.baseline)} on ${String(r.set ?? '?')} (judge ${String((r.judge as { name?: unknown })?.name ?? '?')})`, r.overall, r.subsets);
    if (t) out.push(t);
  }
  const experiment = path.join(path.dirname(run), 'results.json');
  const results = isInside(path.dirname(run), path.resolve(root)) ? readObject(root, experiment) : null;
  const arm = path.basename(run);
  for (const e of Array.isArray(results?.evals) ? (results!.evals as Record<string, unknown>[]) : []) {
    const vs = e?.vsBase as Record<string, unknown> | undefined;
    if (e?.name !== arm || !vs) continue;
    const t = table(rel(experiment), `experiment arm ${arm} vs the base model (held-out world set, verifier)`, vs.overall, vs.subsets);
    if (t) out.push(t);
  }
  return out;
}
