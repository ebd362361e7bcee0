/**
 * `selfplay dashboard --export report.html --run NAME`: one self-contained HTML file of a run (the page's script
 * and styles inlined, the run's curves, guards, diversity, win rates and whole game feed embedded as inert JSON),
 * to share or archive. It opens from disk with no server and fetches nothing.
 */
import { InputError } from '../errors.ts';
import { writeFileAtomic } from '../train/run-folder.ts';
import { pageAssets } from './page.ts';
import { RunStore } from './runs.ts';

/** Writes the report of run `name` under `root` to `file`; returns the number of queries it holds. */
export async function exportReport(root: string, name: string | undefined, file: string): Promise<{ run: string; queries: number; bytes: number }> {
  const store = new RunStore(root);
  const runs = store.list();
  if (runs.length === 0) throw new InputError(`${root}: no run folders (none holds metrics.jsonl)`);
  if (name === undefined && runs.length > 1) throw new InputError(`--export: which run? add --run with one of: ${runs.map((r) => r.name).join(', ')}`);
  const run = name === undefined ? runs[0] : store.get(name);
  if (!run) throw new InputError(`--run ${name}: no such run under ${root}; runs: ${runs.map((r) => r.name).join(', ')}`);
  const view = run.view(2000);
  const feed = run.feed({}, 0, Number.MAX_SAFE_INTEGER).items.reverse(); // oldest first, as the page pages from the end
  const { html } = await pageAssets({ mode: 'report', view, feed });
  writeFileAtomic(file, html);
  return { run: run.name, queries: feed.length, bytes: Buffer.byteLength(html) };
}
