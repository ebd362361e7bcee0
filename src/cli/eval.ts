/** `selfplay eval`: flags -> a pairwise evaluation (src/eval/pairwise.ts) -> report files and a markdown table. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { InputError } from '../errors.ts';
import { makeJudge, parseJudgeSpec } from '../eval/judges/index.ts';
import { pairwiseEval } from '../eval/pairwise.ts';
import { REPORT_FILES, writeReport } from '../eval/report.ts';
import { loadEvalPrompts, type EvalPrompt } from '../eval/sets.ts';
import { ChatModel } from '../generate/chat.ts';
import { Runtime } from '../runtime/runtime.ts';
import { claimRunFolder, markRunFolder, RUN_MARKER } from '../train/run-folder.ts';
import { probeWritable } from '../util/fs.ts';
import { accuracyCommand } from './eval-accuracy.ts';
import { worldQualityCommand } from './world-quality.ts';

export interface EvalFlags {
  model?: string;
  baseline?: string;
  /** A Jinja chat template file used instead of each model folder's own. */
  chatTemplate?: string;
  set?: string;
  judge?: string;
  judgeModel?: string;
  judgeApiKey?: string;
  judgeConcurrency?: number;
  judgeMaxTokens?: number;
  temperature?: number;
  maxTokens?: number;
  limit?: number;
  seed?: number;
  batchSize?: number;
  out?: string;
  threads?: number;
  quiet?: boolean;
  worldQuality?: boolean;
  accuracy?: boolean;
  k?: number;
}

/** Completion budget when --max-tokens is not given: world answers are a word or a number. */
const DEFAULT_MAX_TOKENS = { world: 64, other: 512 };

/**
 * `selfplay eval` has modes, chosen here. The default is the pairwise win rate of --model against --baseline;
 * a world model's role quality (`--world-quality`, src/eval/world-quality.ts) branches off here as well.
 */
export async function evalCommand(flags: EvalFlags): Promise<void> {
  if (flags.worldQuality) return worldQualityCommand(flags);
  if (flags.accuracy) return accuracyCommand(flags);
  await pairwiseCommand(flags);
}

function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new InputError(`eval: ${flag} is required`);
  return value;
}

/** `K` instructions taken round-robin across subsets (in file order), so a small limit still covers every subset. */
export function limitPrompts(prompts: readonly EvalPrompt[], limit: number | undefined): EvalPrompt[] {
  if (limit === undefined || limit >= prompts.length) return [...prompts];
  const bySubset = new Map<string, EvalPrompt[]>();
  for (const p of prompts) bySubset.set(p.subset, [...(bySubset.get(p.subset) ?? []), p]);
  const queues = [...bySubset.values()];
  const picked: EvalPrompt[] = [];
  for (let i = 0; picked.length < limit; i++) for (const q of queues) if (i < q.length && picked.length < limit) picked.push(q[i]);
  return picked;
}

/** An openai judge's host must accept a connection before the models generate a single answer. */
export async function checkReachable(url: string, timeoutMs = 5000): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: u.hostname, port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new InputError(`--judge openai:${url}: cannot connect to ${u.hostname}:${port} (${why}); start the judge server or fix the URL`));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer in ${timeoutMs / 1000} s`));
    socket.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });
}

/** The report folder: new, or an evaluation's (its judgement cache resumes); never a folder the command reads. */
function claimEvalFolder(out: string, flags: EvalFlags, judgeDir: string | undefined): { created: boolean } {
  const created = !fs.existsSync(out);
  const reads = { '--model': flags.model, '--baseline': flags.baseline, '--set': flags.set === 'world' ? undefined : flags.set, '--judge': judgeDir };
  claimRunFolder(out, { kind: 'eval', intent: 'either', flag: '--out', reads });
  probeWritable(out);
  markRunFolder(out, 'eval');
  return { created };
}

/** After a failure: a report folder this command created and left with nothing but its marker goes again. */
function removeIfUnused(out: string): void {
  const names = fs.existsSync(out) ? fs.readdirSync(out) : [];
  if (names.every((n) => n === RUN_MARKER)) fs.rmSync(out, { recursive: true, force: true });
}

const slug = (s: string) => path.normalize(s).replace(/[^A-Za-z0-9._]+/g, '-').replace(/^-+|-+$/g, '');

async function pairwiseCommand(flags: EvalFlags): Promise<void> {
  const modelDir = required(flags.model, '--model');
  const baselineDir = required(flags.baseline, '--baseline');
  const set = required(flags.set, '--set');
  const spec = parseJudgeSpec(flags.judge, set);
  const temperature = flags.temperature ?? 0.01;
  if (!(temperature >= 0)) throw new InputError(`--temperature: expected a number >= 0, got ${flags.temperature}`);
  const prompts = limitPrompts(loadEvalPrompts(set), flags.limit);
  const out = flags.out ?? path.join('runs', 'eval', `${slug(modelDir)}-vs-${slug(baselineDir)}-${slug(path.basename(set))}`);
  if (spec.kind === 'openai') await checkReachable(spec.url);
  const { created } = claimEvalFolder(out, flags, spec.kind === 'reward-model' ? spec.dir : undefined);
  const runtime = new Runtime({ threads: flags.threads });
  try {
    const judge = await makeJudge(spec, {
      runtime,
      judgeModel: flags.judgeModel,
      apiKey: flags.judgeApiKey ?? process.env.OPENAI_API_KEY,
      cacheFile: path.join(out, REPORT_FILES.judgements),
      concurrency: flags.judgeConcurrency,
      maxTokens: flags.judgeMaxTokens,
    });
    const report = await pairwiseEval({
      prompts,
      model: ChatModel.load(modelDir, runtime, 'model', { chatTemplateFile: flags.chatTemplate }),
      modelName: path.normalize(modelDir),
      baseline: ChatModel.load(baselineDir, runtime, 'baseline', { chatTemplateFile: flags.chatTemplate }),
      baselineName: path.normalize(baselineDir),
      judge,
      generation: {
        temperature,
        maxTokens: flags.maxTokens ?? (set === 'world' ? DEFAULT_MAX_TOKENS.world : DEFAULT_MAX_TOKENS.other),
        seed: flags.seed ?? 1,
        batchSize: flags.batchSize,
      },
      bootstrap: { seed: flags.seed ?? 1 },
      quiet: flags.quiet,
    });
    process.stdout.write(writeReport(out, report, prompts, set));
    const written = Object.values(REPORT_FILES).map((f) => path.join(out, f)).filter((f) => fs.existsSync(f));
    process.stderr.write(`wrote ${written.join(', ')}\n`);
  } catch (e) {
    if (created) removeIfUnused(out);
    throw e;
  } finally {
    await runtime.release();
  }
}
