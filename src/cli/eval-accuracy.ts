/**
 * `selfplay eval --accuracy`: greedy, mean@k (temperature 1) and maj@k accuracy of --model on a world set (default
 * world-large), per family and level, and paired tests against --baseline when given. Each model's answers are
 * cached in --out (keyed by the model folder, the items and the settings), so adding a model or rerunning with
 * another baseline generates only what is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.ts';
import { answerItems, accuracyRows, itemOutcomes, pairedRows, spreadLimit, type AccuracySettings, type ModelAnswers } from '../eval/accuracy.ts';
import { accuracyMarkdown, type AccuracyReport } from '../eval/accuracy-report.ts';
import { loadEvalPrompts, type EvalPrompt } from '../eval/sets.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { ChatModel } from '../generate/chat.ts';
import { Runtime } from '../runtime/runtime.ts';
import { claimRunFolder, markRunFolder, readJson, writeJsonAtomic } from '../train/run-folder.ts';
import { probeWritable } from '../util/fs.ts';

export interface AccuracyFlags {
  model?: string;
  baseline?: string;
  set?: string;
  k?: number;
  limit?: number;
  maxTokens?: number;
  seed?: number;
  batchSize?: number;
  out?: string;
  threads?: number;
  quiet?: boolean;
  temperature?: number;
  chatTemplate?: string;
}

const slug = (s: string) => path.normalize(s).replace(/[^A-Za-z0-9._]+/g, '-').replace(/^-+|-+$/g, '');

/** The model's answers from the cache in `out`, or generated (then cached). */
async function cachedAnswers(dir: string, prompts: EvalPrompt[], s: AccuracySettings, out: string, runtime: Runtime, flags: AccuracyFlags): Promise<ModelAnswers> {
  const file = path.join(out, 'answers', `${slug(path.resolve(dir))}.json`);
  const key = { model: path.resolve(dir), ids: prompts.map((p) => p.id), k: s.k, maxTokens: s.maxTokens, seed: s.seed };
  if (fs.existsSync(file)) {
    const saved = readJson(file) as { key: unknown; answers: ModelAnswers };
    if (JSON.stringify(saved.key) === JSON.stringify(key)) return saved.answers;
  }
  const chat = ChatModel.load(dir, runtime, slug(dir), { chatTemplateFile: flags.chatTemplate });
  const answers = await answerItems(chat, prompts, s, { name: path.normalize(dir), quiet: flags.quiet });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeJsonAtomic(file, { key, answers });
  return answers;
}

export async function accuracyCommand(flags: AccuracyFlags): Promise<void> {
  if (!flags.model) throw new InputError('eval --accuracy: --model is required');
  if (flags.temperature !== undefined) throw new InputError('eval --accuracy: --temperature does not apply (greedy is temperature 0, the k samples temperature 1)');
  const set = flags.set ?? 'world-large';
  const all = loadEvalPrompts(set);
  if (all.some((p) => !p.instance)) throw new InputError(`eval --accuracy: --set ${set} is not a world set (world or world-large): accuracy needs the verifier`);
  const prompts = spreadLimit(all, flags.limit);
  const s: AccuracySettings = { k: flags.k ?? 8, maxTokens: flags.maxTokens ?? 64, seed: flags.seed ?? 1, batchSize: flags.batchSize };
  const out = flags.out ?? path.join('runs', 'eval', `accuracy-${slug(flags.model)}${flags.baseline ? `-vs-${slug(flags.baseline)}` : ''}-${slug(set)}`);
  // claimed before any compute: a foreign folder, or one the command reads, is refused with nothing written
  claimRunFolder(out, { kind: 'eval', intent: 'either', flag: '--out', reads: { '--model': flags.model, '--baseline': flags.baseline, '--chat-template': flags.chatTemplate } });
  probeWritable(out);
  markRunFolder(out, 'eval');
  const runtime = new Runtime({ threads: flags.threads });
  try {
    const model = itemOutcomes(prompts, await cachedAnswers(flags.model, prompts, s, out, runtime, flags));
    const base = flags.baseline ? itemOutcomes(prompts, await cachedAnswers(flags.baseline, prompts, s, out, runtime, flags)) : null;
    const report: AccuracyReport = {
      model: path.normalize(flags.model),
      baseline: flags.baseline ? path.normalize(flags.baseline) : null,
      set,
      settings: { k: s.k, maxTokens: s.maxTokens, seed: s.seed, limit: flags.limit ?? null },
      rows: accuracyRows(model),
      baselineRows: base ? accuracyRows(base) : null,
      paired: base ? pairedRows(model, base, { seed: s.seed }) : null,
    };
    const md = accuracyMarkdown(report);
    writeJsonAtomic(path.join(out, 'accuracy.json'), { ...report, items: { model, baseline: base } });
    writeFileAtomic(path.join(out, 'accuracy.md'), md);
    process.stdout.write(md);
    process.stderr.write(`wrote ${path.join(out, 'accuracy.json')}, ${path.join(out, 'accuracy.md')}\n`);
  } finally {
    await runtime.release();
  }
}
