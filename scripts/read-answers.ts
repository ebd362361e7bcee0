/**
 * Reads a world model's answers at one family and level, to tell competence from luck at a frontier level (a
 * pass@k reached by slips of a known procedure, or by guessing): `npx tsx scripts/read-answers.ts MODEL FAMILY LEVEL
 * [ITEMS] [K]`. Prints each dev instruction, its reference answer, the greedy answer and K samples at temperature 1
 * (instances from the frontier check's dev seed + 1, so never a held-out item).
 */
import { ChatModel } from '../src/generate/chat.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { FRONTIER_DEV_SEED, frontierDevPrompts } from '../src/eval/world-frontier.ts';
import { referenceAnswer } from '../src/world/world.ts';

const [dir, family, level, items = '12', k = '6'] = process.argv.slice(2);
if (!dir || !family || !level) {
  process.stderr.write('usage: npx tsx scripts/read-answers.ts MODEL FAMILY LEVEL [ITEMS] [K]\n');
  process.exit(2);
}
const prompts = frontierDevPrompts(Number(items), FRONTIER_DEV_SEED + 1).filter((p) => p.instance!.family === family && p.instance!.difficulty === Number(level));
const runtime = new Runtime({ threads: 2 });
const model = ChatModel.load(dir, runtime, 'model');
const instructions = prompts.map((p) => p.instruction);
const greedy = await model.complete(instructions, { temperature: 0, topP: 1, topK: 0, maxTokens: 48 }, 1);
const samples = await model.complete(instructions.flatMap((q) => Array<string>(Number(k)).fill(q)), { temperature: 1, topP: 1, topK: 0, maxTokens: 48 }, 2);
prompts.forEach((p, i) => {
  const mine = samples.slice(i * Number(k), (i + 1) * Number(k)).map((s) => s.text.trim());
  process.stdout.write(`${p.instruction}\n  reference ${referenceAnswer(p.instance!)} | greedy ${greedy[i].text.trim()} | samples ${mine.join(' ; ')}\n`);
});
await runtime.release();
