/**
 * Writes the held-out evaluation sets (deterministic; run `npx tsx scripts/make-evalset.ts`):
 * data/world-eval-v4.jsonl (20 per family and level) and data/world-eval-large-v4.jsonl (420 per family). The files
 * are versioned: changing the world's families or levels means new file names, not an overwrite.
 *
 * World v4 replaced v3's count family with largest and kept the other five families' levels, so the first file's
 * generator (same seed, same family order, largest drawn last where count was) writes v3's items for those five. The
 * large file copies v3's large items of those five verbatim (they were drawn disjoint from the shipped model's
 * replayed stage-2 pretraining, which only v3's code could replay) and draws largest fresh. A script, not a module
 * under src/: it writes files in data/.
 */
import { writeFileAtomic } from '../src/util/fs.ts';
import { EVAL_SET_PATH, evalSetToJsonl, LARGE_EVAL_SET_PATH, LARGE_EVAL_SET_V3_PATH, loadEvalSet, makeEvalSet, makeLargeEvalSetV4, type EvalItem } from '../src/world/evalset.ts';

function write(file: string, items: EvalItem[]): void {
  writeFileAtomic(file, evalSetToJsonl(items));
  const perFamily = new Map<string, number>();
  for (const it of items) perFamily.set(it.family, (perFamily.get(it.family) ?? 0) + 1);
  console.log(`wrote ${items.length} items to ${file}: ${[...perFamily].map(([f, n]) => `${f} ${n}`).join(', ')}`);
}

write(EVAL_SET_PATH, makeEvalSet());
write(LARGE_EVAL_SET_PATH, makeLargeEvalSetV4(loadEvalSet(LARGE_EVAL_SET_V3_PATH)));
