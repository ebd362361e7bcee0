/** The evaluation report: a markdown table, and the files written to `--out`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EvalReport } from './pairwise.ts';
import { toAlpacaEvalOutputs, writeAlpacaEvalOutputs, type EvalPrompt } from './sets.ts';
import { writeFileAtomic } from '../util/fs.ts';
import type { SubsetStats } from './stats.ts';

const pct = (x: number) => (100 * x).toFixed(1);
const interval = (ci: { lo: number; hi: number }) => `[${pct(ci.lo)}, ${pct(ci.hi)}]`;

function row(s: SubsetStats, label = s.subset): string {
  const cells = [
    label,
    String(s.n),
    pct(s.winRate),
    interval(s.winRateCI),
    pct(s.lcWinRate),
    interval(s.lcWinRateCI),
    `${s.wins} / ${s.ties} / ${s.losses}`,
    s.meanModelLength.toFixed(0),
    s.meanBaselineLength.toFixed(0),
  ];
  return `| ${cells.join(' | ')} |`;
}

/** The results as a markdown table (per subset, then overall), with a header naming what was compared. */
export function markdownReport(r: EvalReport, setName: string): string {
  const g = r.generation;
  const counters = Object.entries(r.judge.counters).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `## ${r.model} vs ${r.baseline}`,
    '',
    `Set ${setName} (${r.overall.n} instructions), judge ${r.judge.name}${counters ? ` (${counters})` : ''}; ` +
      `sampling temperature ${g.temperature}, max tokens ${g.maxTokens}, seed ${g.seed}.`,
    '',
    '| subset | n | win rate % | 95% CI | LC win rate % | 95% CI | wins / ties / losses | mean length (model) | mean length (baseline) |',
    '|---|---:|---:|---|---:|---|---|---:|---:|',
    ...(r.subsets.length > 1 ? r.subsets.map((s) => row(s)) : []),
    row(r.overall, '**overall**'),
    '',
    'Win rate: the model against the baseline, ties count half. CI: percentile bootstrap over instructions. ' +
      'LC: length-controlled win rate, the logistic fit of the preference on the length difference evaluated at ' +
      'equal lengths (src/eval/stats.ts). Lengths in characters.',
    '',
  ].join('\n');
}

/** Files written to the output folder. */
export const REPORT_FILES = {
  json: 'eval.json',
  markdown: 'eval.md',
  modelOutputs: 'model_outputs.json',
  baselineOutputs: 'baseline_outputs.json',
  judgements: 'judgements.jsonl',
} as const;

/** Writes eval.json, eval.md and both models' outputs in AlpacaEval's format into `dir`; returns the markdown. */
export function writeReport(dir: string, r: EvalReport, prompts: readonly EvalPrompt[], setName: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const markdown = markdownReport(r, setName);
  writeFileAtomic(path.join(dir, REPORT_FILES.json), `${JSON.stringify({ set: setName, ...r }, null, 2)}\n`);
  writeFileAtomic(path.join(dir, REPORT_FILES.markdown), markdown);
  const answers = (side: 'model' | 'baseline') => r.items.map((it) => it[side]);
  writeAlpacaEvalOutputs(path.join(dir, REPORT_FILES.modelOutputs), toAlpacaEvalOutputs(prompts, answers('model'), r.model));
  writeAlpacaEvalOutputs(path.join(dir, REPORT_FILES.baselineOutputs), toAlpacaEvalOutputs(prompts, answers('baseline'), r.baseline));
  return markdown;
}
