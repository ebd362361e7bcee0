/** `selfplay experiment paper`: flags -> the paper's comparison in the embedded world (src/experiment/paper.ts). */
import path from 'node:path';
import { InputError } from '../errors.ts';
import { DEFAULT_FRONTIER, parseFrontier } from '../experiment/frontier.ts';
import { BUDGETS, commandLine, runPaperExperiment, type Budget } from '../experiment/paper.ts';

export interface PaperFlags {
  model?: string;
  budget?: string;
  seed?: number;
  out?: string;
  doc?: string;
  threads?: number;
  quiet?: boolean;
  /** `true` (the flag alone: the default range) or "lo,hi". */
  grpoFrontier?: string | boolean;
  /** Other experiments' results.json whose headline numbers the doc quotes. */
  also?: string[];
}

/** The budgets a user may choose; `tiny` exists for the tests only. */
export const PUBLIC_BUDGETS = ['small', 'full'] as const;

export function budgetHelp(): string {
  return PUBLIC_BUDGETS.map((b) => `${b}: ${BUDGETS[b].iterations} iterations per arm, N ${BUDGETS[b].N} x G ${BUDGETS[b].G}`).join('; ');
}

export async function paperCommand(flags: PaperFlags): Promise<void> {
  const budget = flags.budget ?? 'small';
  if (!(PUBLIC_BUDGETS as readonly string[]).includes(budget)) throw new InputError(`--budget: expected one of ${PUBLIC_BUDGETS.join(', ')}; got "${budget}"`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const options = {
    model: flags.model ?? path.join('models', 'default'),
    budget: budget as Budget,
    seed: flags.seed ?? 1,
    out: flags.out ?? path.join('runs', `experiment-paper-${budget}`),
    doc: flags.doc ?? path.join('docs', 'results', 'paper.md'),
    threads: flags.threads,
    quiet: flags.quiet,
    grpoFrontier: flags.grpoFrontier === undefined ? undefined : flags.grpoFrontier === true ? DEFAULT_FRONTIER : parseFrontier(String(flags.grpoFrontier)),
    also: flags.also,
    log,
  };
  const outcome = await runPaperExperiment(options);
  if (!outcome.finished) {
    log(`stopped; finished arms and checkpoints are kept. Continue with the same command: ${commandLine(options)}`);
    return;
  }
  log(`done: ${options.doc}`);
}
