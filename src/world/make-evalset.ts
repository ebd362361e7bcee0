/**
 * Writes the held-out evaluation sets (deterministic; run `npx tsx src/world/make-evalset.ts`):
 * data/world-eval-v3.jsonl (20 per family and level) and data/world-eval-large-v3.jsonl (420 per family, disjoint
 * from the first). The files are versioned: changing the world's families or levels means new file names, not an
 * overwrite. The large set is made after the first one, whose instances it excludes.
 */
import { writeFileAtomic } from '../util/fs.ts';
import { EVAL_SET_PATH, evalSetToJsonl, LARGE_EVAL_SET_PATH, makeEvalSet, makeLargeEvalSet, type EvalItem } from './evalset.ts';

function write(file: string, items: EvalItem[]): void {
  writeFileAtomic(file, evalSetToJsonl(items));
  const perFamily = new Map<string, number>();
  for (const it of items) perFamily.set(it.family, (perFamily.get(it.family) ?? 0) + 1);
  console.log(`wrote ${items.length} items to ${file}: ${[...perFamily].map(([f, n]) => `${f} ${n}`).join(', ')}`);
}

write(EVAL_SET_PATH, makeEvalSet());
write(LARGE_EVAL_SET_PATH, makeLargeEvalSet());
