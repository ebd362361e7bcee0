/**
 * Writes the held-out evaluation set to data/world-eval-v3.jsonl (deterministic; run `npx tsx src/world/make-evalset.ts`).
 * The file is versioned: changing the world's families or levels means a new file name, not an overwrite.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVAL_SET_PATH, evalSetToJsonl, makeEvalSet } from './evalset.ts';

const items = makeEvalSet();
fs.mkdirSync(path.dirname(EVAL_SET_PATH), { recursive: true });
const tmp = `${EVAL_SET_PATH}.tmp`;
fs.writeFileSync(tmp, evalSetToJsonl(items));
fs.renameSync(tmp, EVAL_SET_PATH);
const perFamily = new Map<string, number>();
for (const it of items) perFamily.set(it.family, (perFamily.get(it.family) ?? 0) + 1);
console.log(`wrote ${items.length} items to ${EVAL_SET_PATH}: ${[...perFamily].map(([f, n]) => `${f} ${n}`).join(', ')}`);
