/** The accuracy evaluation's markdown: accuracy per group (model, and baseline in parentheses), then paired tests. */
import type { AccuracyRow, PairedRow } from './accuracy.ts';
import type { Interval } from './stats.ts';

export interface AccuracyReport {
  model: string;
  baseline: string | null;
  set: string;
  settings: { k: number; maxTokens: number; seed: number; limit: number | null };
  rows: AccuracyRow[];
  baselineRows: AccuracyRow[] | null;
  paired: PairedRow[] | null;
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');
const signed = (x: number) => `${x >= 0 ? '+' : ''}${pct(x)}`;
const ci = (c: Interval) => `[${signed(c.lo)}, ${signed(c.hi)}]`;
const pval = (p: number) => (p < 0.001 ? '<0.001' : p.toFixed(3));
const label = (group: string, difficulty: number | null) => (difficulty === null ? `**${group}**` : group);

function accuracyTable(r: AccuracyReport): string[] {
  const base = r.baselineRows;
  const cell = (m: number, b: number | undefined) => (b === undefined ? pct(m) : `${pct(m)} (${pct(b)})`);
  return [
    `| group | n | greedy % | mean@${r.settings.k} % (T=1) | maj@${r.settings.k} % |`,
    '|---|---:|---:|---:|---:|',
    ...r.rows.map((row, i) => {
      const b = base?.[i];
      return `| ${label(row.group, row.difficulty)} | ${row.n} | ${cell(row.greedy, b?.greedy)} | ${cell(row.meanK, b?.meanK)} | ${cell(row.majK, b?.majK)} |`;
    }),
  ];
}

function pairedTable(paired: PairedRow[], k: number): string[] {
  return [
    `| group | greedy diff [95% CI] | gained / lost | p | mean@${k} diff [95% CI] | items up / down | p | maj@${k} diff [95% CI] | gained / lost | p |`,
    '|---|---|---|---:|---|---|---:|---|---|---:|',
    ...paired.map((p) => {
      const cells = [
        label(p.group, p.difficulty),
        `${signed(p.greedy.diff)} ${ci(p.greedy.diffCI)}`,
        `${p.greedy.gained} / ${p.greedy.lost}`,
        pval(p.greedy.p),
        `${signed(p.meanK.diff)} ${ci(p.meanK.diffCI)}`,
        `${p.meanK.gained} / ${p.meanK.lost}`,
        pval(p.meanK.p),
        `${signed(p.majK.diff)} ${ci(p.majK.diffCI)}`,
        `${p.majK.gained} / ${p.majK.lost}`,
        pval(p.majK.p),
      ];
      return `| ${cells.join(' | ')} |`;
    }),
  ];
}

export function accuracyMarkdown(r: AccuracyReport): string {
  const s = r.settings;
  const n = r.rows.find((row) => row.group === 'overall')?.n ?? 0;
  const lines = [
    `## Accuracy of ${r.model}${r.baseline ? ` (baseline ${r.baseline} in parentheses)` : ''}`,
    '',
    `Set ${r.set} (${n} items${s.limit ? `, --limit ${s.limit}` : ''}); greedy = temperature 0; mean@${s.k} = share of ${s.k} samples at ` +
      `temperature 1 that are exactly right; maj@${s.k} = the majority answer of those samples; max tokens ${s.maxTokens}, seed ${s.seed}.`,
    '',
    ...accuracyTable(r),
  ];
  if (r.paired) {
    lines.push(
      '',
      `### Paired against ${r.baseline}`,
      '',
      'Differences in points (model - baseline) with 95% paired bootstrap intervals; p: exact two-sided sign test on the items',
      'that differ (McNemar for greedy and maj@k).',
      '',
      ...pairedTable(r.paired, s.k),
    );
  }
  return `${lines.join('\n')}\n`;
}
