/**
 * Writes the held-out evaluation set to data/world-eval-v3.jsonl (deterministic; run `npx tsx src/world/make-evalset.ts`).
 * The file is versioned: changing the world's families or levels means a new file name, not an overwrite.
 */
import { writeFileAtomic } from '../util/fs.ts';
import { EVAL_SET_PATH, evalSetToJsonl, makeEvalSet } from './evalset.ts';

const items = makeEvalSet();
writeFileAtomic(EVAL_SET_PATH, evalSetToJsonl(items));
const perFamily = new Map<string, number>();
for (const it of items) perFamily.set(it.family, (perFamily.get(it.family) ?? 0) + 1);
console.log(`wrote ${items.length} items to ${EVAL_SET_PATH}: ${[...perFamily].map(([f, n]) => `${f} ${n}`).join(', ')}`);
