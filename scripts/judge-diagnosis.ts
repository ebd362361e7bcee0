/**
 * Where a world model's judge goes wrong, per kind of invalid instruction (dev tool; the quality bar itself is
 * `selfplay eval --world-quality`). For each noise kind, and for valid instructions with a correct or an empty
 * response, it prints how often the judge calls the instruction "well formed" and its mean <Score> beside the
 * rubric's. Run:
 *
 *   node --import tsx scripts/judge-diagnosis.ts [MODEL_DIR=models/default] [PER_KIND=16]
 */
import { fillJudgePrompt, parseJudgeScore } from '../src/prompts/paper.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { Rng } from '../src/util/rng.ts';
import { judgeCompletion } from '../src/world/judge.ts';
import { NOISE_KINDS, noisyInstruction } from '../src/world/noise.ts';
import { CRITERION_PHRASES } from '../src/world/phrases.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';
import { generateInstance, phrase, referenceAnswer } from '../src/world/world.ts';

interface Item {
  kind: string;
  prompt: string;
  truth: number;
}

function items(rng: Rng, perKind: number): Item[] {
  const out: Item[] = [];
  const add = (kind: string, instruction: string, response: string) =>
    out.push({ kind, prompt: fillJudgePrompt(instruction, response), truth: parseJudgeScore(judgeCompletion(instruction, response)).score! });
  const anyAnswer = () => referenceAnswer(generateInstance(rng, FAMILY_NAMES[rng.int(0, FAMILY_NAMES.length - 1)], rng.int(1, 4)));
  for (const kind of NOISE_KINDS) for (let i = 0; i < perKind; i++) add(kind, noisyInstruction(rng, kind).instruction, anyAnswer());
  for (let i = 0; i < 2 * perKind; i++) {
    const instance = generateInstance(rng, FAMILY_NAMES[i % FAMILY_NAMES.length], rng.int(1, 4));
    const correct = i % 2 === 1;
    add(correct ? 'valid, correct answer' : 'valid, empty answer', phrase(rng, instance), correct ? referenceAnswer(instance) : '');
  }
  return out;
}

const [modelDir = 'models/default', perKindText = '16'] = process.argv.slice(2);
const runtime = new Runtime();
const model = ChatModel.load(modelDir, runtime);
const all = items(new Rng(123), Number(perKindText));
const done = await model.complete(all.map((x) => x.prompt), { temperature: 0.01, topP: 1, topK: 0, maxTokens: 128 }, 1, 32);
const wellFormed = CRITERION_PHRASES[1][1];
const rows = new Map<string, { n: number; saysValid: number; score: number; truth: number; unparsed: number }>();
done.forEach((d, i) => {
  const r = rows.get(all[i].kind) ?? { n: 0, saysValid: 0, score: 0, truth: 0, unparsed: 0 };
  const score = parseJudgeScore(d.text).score;
  r.n++;
  r.saysValid += d.text.includes(wellFormed) ? 1 : 0;
  r.score += score ?? 0;
  r.unparsed += score === null ? 1 : 0;
  r.truth += all[i].truth;
  rows.set(all[i].kind, r);
});
console.log(`judge of ${modelDir}\n\n| instruction kind | n | judge says "${wellFormed}" | mean score | rubric mean | unparsed |\n|---|---:|---:|---:|---:|---:|`);
for (const [kind, r] of rows) {
  const parsed = r.n - r.unparsed;
  console.log(`| ${kind} | ${r.n} | ${r.saysValid} | ${parsed ? (r.score / parsed).toFixed(2) : '-'} | ${(r.truth / r.n).toFixed(2)} | ${r.unparsed} |`);
}
await runtime.release();
