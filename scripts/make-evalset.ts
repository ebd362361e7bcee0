/**
 * Writes the held-out evaluation sets (deterministic; run `npx tsx scripts/make-evalset.ts`):
 * data/world-eval-v3.jsonl (20 per family and level) and data/world-eval-large-v3.jsonl (420 per family). The files
 * are versioned: changing the world's families or levels means new file names, not an overwrite. The large set is
 * made after the first one, whose instances it excludes, and excludes what the shipped model's (replayable)
 * stage-2 pretraining drew. A script, not a module under src/: it needs the world (the sets) and the pretraining
 * replay (train/), and world/ sits below train/.
 */
import { defaultModelStage2Draws } from '../src/train/pretrain.ts';
import { writeFileAtomic } from '../src/util/fs.ts';
import { EVAL_SET_PATH, evalSetToJsonl, LARGE_EVAL_SET_PATH, makeEvalSet, makeLargeEvalSet, type EvalItem } from '../src/world/evalset.ts';

function write(file: string, items: EvalItem[]): void {
  writeFileAtomic(file, evalSetToJsonl(items));
  const perFamily = new Map<string, number>();
  for (const it of items) perFamily.set(it.family, (perFamily.get(it.family) ?? 0) + 1);
  console.log(`wrote ${items.length} items to ${file}: ${[...perFamily].map(([f, n]) => `${f} ${n}`).join(', ')}`);
}

write(EVAL_SET_PATH, makeEvalSet());
write(LARGE_EVAL_SET_PATH, makeLargeEvalSet(defaultModelStage2Draws()));
