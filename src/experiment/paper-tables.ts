/**
 * The doc's measured tables beside the win rate: paired accuracy of each arm against the base (greedy, mean@k,
 * maj@k), challenger validity of LSP against LSP-Zero, the reward-option ablation, and the claims check that says
 * for each of the paper's claims whether it reproduced, with the numbers. Pure functions of PaperResults.
 */
import type { PairedBinary, PairedRates } from '../eval/paired.ts';
import type { SubsetStats } from '../eval/stats.ts';
import { ABLATED, OPTION_LABEL } from './arms.ts';
import type { DiversityWindow } from './diversity.ts';
import { ci, claimCi, evalOf, num, pct, type ArmResult, type PaperResults } from './results.ts';

export const mdTable = (header: string[], rows: string[][], align?: string[]) =>
  [`| ${header.join(' | ')} |`, `|${(align ?? header.map((_, i) => (i === 0 ? '---' : '---:'))).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const signed = (x: number) => `${x > 0 ? '+' : ''}${pct(x)}`;
const pValue = (p: number) => (p < 0.001 ? '< 0.001' : num(p, 3));

/** "+1.2 [-0.3, +2.8] (+14/-9, p 0.405)": difference in points, 95% interval, items gained/lost, sign test p. */
export function diffCell(d: PairedBinary | PairedRates): string {
  return `${signed(d.diff)} [${signed(d.diffCI.lo)}, ${signed(d.diffCI.hi)}] (+${d.gained}/-${d.lost}, p ${pValue(d.p)})`;
}

const overallPaired = (r: PaperResults, name: string) => evalOf(r, name).paired?.find((x) => x.group === 'overall');

/** Per arm, overall: base and arm accuracy, and the paired difference of greedy, mean@k and maj@k. */
export function pairedAccuracyTable(r: PaperResults): string {
  const k = r.settings.k;
  const base = evalOf(r, 'base').accuracy.find((a) => a.group === 'overall')!;
  const rows = [['Base', pct(base.greedy), pct(base.meanK), pct(base.majK), '', '', '']];
  for (const arm of r.arms) {
    const p = overallPaired(r, arm.name);
    if (!p) continue;
    rows.push([arm.label, pct(p.greedy.modelAcc), pct(p.meanK.modelMean), pct(p.majK.modelAcc), diffCell(p.greedy), diffCell(p.meanK), diffCell(p.majK)]);
  }
  return mdTable(['model', 'greedy %', `mean@${k} %`, `maj@${k} %`, 'greedy vs base (pts)', `mean@${k} vs base (pts)`, `maj@${k} vs base (pts)`], rows);
}

/** Per arm and family: the mean@k difference against the base (the policy RL trains is sampled at temperature 1). */
export function pairedFamilyTable(r: PaperResults): string {
  const families = evalOf(r, 'base').accuracy.filter((a) => a.difficulty === null && a.family !== 'overall').map((a) => a.family);
  const rows = r.arms.map((arm) => [arm.label, ...families.map((f) => {
    const p = evalOf(r, arm.name).paired?.find((x) => x.group === f);
    return p ? `${signed(p.meanK.diff)} [${signed(p.meanK.diffCI.lo)}, ${signed(p.meanK.diffCI.hi)}]` : '–';
  })]);
  const base = ['Base (mean@k %)', ...families.map((f) => pct(evalOf(r, 'base').accuracy.find((a) => a.group === f)!.meanK))];
  return mdTable(['model', ...families], [base, ...rows]);
}

/** Valid queries over a set of windows: count and share. */
function validOver(windows: readonly DiversityWindow[]): { valid: number; queries: number; share: number } {
  const queries = windows.reduce((a, w) => a + w.queries, 0);
  const valid = windows.reduce((a, w) => a + Math.round(w.validFrac * w.queries), 0);
  return { valid, queries, share: queries ? valid / queries : NaN };
}

export interface Validity {
  first: number;
  last: number;
  /** Over the whole run. */
  all: { valid: number; queries: number; share: number };
  lastCounts: { valid: number; queries: number; share: number };
}

export function validity(arm: ArmResult): Validity | null {
  const w = arm.diversity;
  if (w.length === 0) return null;
  return { first: w[0].validFrac, last: w.at(-1)!.validFrac, all: validOver(w), lastCounts: validOver(w.slice(-1)) };
}

/** Difference of two shares with a normal-approximation 95% interval. */
export function shareDiff(a: { valid: number; queries: number }, b: { valid: number; queries: number }): { diff: number; lo: number; hi: number } {
  const [pa, pb] = [a.valid / a.queries, b.valid / b.queries];
  const se = Math.sqrt((pa * (1 - pa)) / a.queries + (pb * (1 - pb)) / b.queries);
  return { diff: pa - pb, lo: pa - pb - 1.96 * se, hi: pa - pb + 1.96 * se };
}

export function validityTable(r: PaperResults): string {
  const rows = r.arms.filter((a) => a.kind === 'main').flatMap((arm) => {
    const v = validity(arm);
    return v ? [[arm.label, String(arm.iterations), pct(v.first), pct(v.last), `${pct(v.all.share)} (${v.all.valid} / ${v.all.queries})`]] : [];
  });
  return mdTable(['arm', 'iterations', 'valid % (first window)', 'valid % (last window)', 'valid % (whole run)'], rows);
}

const optionState = (arm: ArmResult, option: (typeof ABLATED)[number]) => {
  const c = arm.config;
  if (option === 'challengerReward') return c.challengerReward === 'uncertainty' ? 'on' : 'off';
  return c[option] > 0 ? `on (${c[option]})` : 'off';
};

/** LSP with the budget's settings, then each ablation arm: its option states, validity, diversity, accuracy. */
export function ablationTable(r: PaperResults): string {
  const k = r.settings.k;
  const arms = r.arms.filter((a) => a.kind === 'ablation' || a.name === 'lsp');
  const rows = arms.map((arm) => {
    const v = validity(arm);
    const last = arm.diversity.at(-1);
    const p = overallPaired(r, arm.name);
    return [
      arm.label, ...ABLATED.map((o) => optionState(arm, o)), String(arm.iterations),
      v ? pct(v.all.share) : '–', v ? pct(v.last) : '–', last ? num(last.distinct2) : '–', last ? pct(last.uniqueInstanceShare) : '–',
      p ? diffCell(p.greedy) : '–', p ? diffCell(p.meanK) : '–',
    ];
  });
  const header = ['arm', ...ABLATED.map((o) => OPTION_LABEL[o]), 'iterations', 'valid % (run)', 'valid % (last window)', 'distinct-2 (last window)', 'distinct instances % (last window)', 'greedy vs base (pts)', `mean@${k} vs base (pts)`];
  return mdTable(header, rows);
}

/** One line per claim of the paper: reproduced or not, with the numbers. */
export function claims(r: PaperResults): string[] {
  const arm = (name: string) => r.arms.find((a) => a.name === name);
  const lines: string[] = [];
  for (const name of ['grpo', 'lsp']) {
    const a = arm(name);
    if (!a) continue;
    const e = evalOf(r, name);
    const said = (s: SubsetStats) => `**${s.winRateCI.lo > 0.5 ? 'reproduced' : 'not reproduced'}** — ${pct(s.winRate)}% ${claimCi(s)}, ${s.wins} wins / ${s.ties} ties / ${s.losses} losses of ${s.n}`;
    const sampled = e.vsBaseSampled ? `; sampled policy (k = ${r.settings.k}): ${said(e.vsBaseSampled.overall)}` : '';
    lines.push(`${a.label} beats the base (95% interval of the win rate above 50%): greedy ${said(e.vsBase!.overall)}${sampled}.`);
  }
  const [g, l] = [arm('grpo'), arm('lsp')];
  if (g && l) {
    const [sg, sl] = [evalOf(r, 'grpo').vsBase!.overall, evalOf(r, 'lsp').vsBase!.overall];
    const overlap = sl.winRateCI.lo <= sg.winRateCI.hi && sg.winRateCI.lo <= sl.winRateCI.hi;
    lines.push(`LSP within noise of GRPO (win-rate intervals overlap): **${overlap ? 'reproduced' : 'not reproduced'}** — LSP ${pct(sl.winRate)}% ${ci(sl)}, GRPO ${pct(sg.winRate)}% ${ci(sg)}` +
      `${sg.winRateCI.lo > 0.5 || sl.winRateCI.lo > 0.5 ? '' : ' (neither beats the base, so "within noise" here only says both are level with it)'}.`);
  }
  const validityClaim = (lspName: string, zeroName: string, setting: string) => {
    const [al, az] = [arm(lspName), arm(zeroName)];
    const [vl, vz] = [al && validity(al), az && validity(az)];
    if (!vl || !vz) return;
    const d = shareDiff(vl.all, vz.all);
    lines.push(`LSP keeps more valid queries than LSP-Zero (${setting}; whole run, 95% interval of the difference above 0): **${d.lo > 0 ? 'reproduced' : 'not reproduced'}** — ` +
      `LSP ${pct(vl.all.share)}% (${vl.all.valid} / ${vl.all.queries}), LSP-Zero ${pct(vz.all.share)}% (${vz.all.valid} / ${vz.all.queries}), difference ${signed(d.diff)} points [${signed(d.lo)}, ${signed(d.hi)}]; last window ${pct(vl.last)}% vs ${pct(vz.last)}%.`);
  };
  validityClaim('lsp', 'lsp-zero', "the budget's rewards, with the invalid-query penalty");
  validityClaim('lsp-flip-invalidQueryPenalty', 'lsp-zero-flip-invalidQueryPenalty', "the paper's challenger reward, no invalid-query penalty");
  const accuracy = r.arms.filter((a) => a.kind === 'main').flatMap((a) => {
    const p = overallPaired(r, a.name);
    return p ? [`${a.label} greedy ${diffCell(p.greedy)}, mean@${r.settings.k} ${diffCell(p.meanK)}`] : [];
  });
  if (accuracy.length) lines.push(`Held-out accuracy against the base (paired, points; not one of the paper's claims): ${accuracy.join('; ')}.`);
  return lines;
}
