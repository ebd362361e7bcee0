/**
 * The "what happened" lines of the experiment's doc, generated from the measured numbers: how each arm compares
 * with the base (and whether its interval excludes a tie), the order of the arms beside the paper's, where the
 * challenger's validity and diversity went, and how far each policy moved from its reference (KL).
 */
import type { SubsetStats } from '../eval/stats.ts';
import { finiteMean } from '../util/math.ts';
import { FAMILY_NAMES } from '../world/types.ts';
import { windowSize } from './diversity.ts';
import { ci, evalOf, iterationRange, metricPoints, num, pct, type ArmResult, type PaperResults } from './results.ts';

/** Whether the 95% interval puts the arm above, below or level with the base. */
export function verdict(s: SubsetStats): string {
  if (s.ties === s.n) return 'every item tied: its answers score exactly as the base\'s do';
  if (s.winRateCI.lo > 0.5) return 'better than the base on this set (the 95% interval lies above 50%)';
  if (s.winRateCI.hi < 0.5) return 'worse than the base on this set (the 95% interval lies below 50%)';
  return 'not distinguishable from the base at this sample size (the 95% interval contains 50%)';
}

const overlap = (a: SubsetStats, b: SubsetStats) => a.winRateCI.lo <= b.winRateCI.hi && b.winRateCI.lo <= a.winRateCI.hi;

/** Mean of the finite values of `key` over the first and the last window of iterations. */
function firstLast(arm: ArmResult, key: string, size: number): [number, number] {
  const values = metricPoints(arm.metrics, key).map((p) => p[1]);
  return [finiteMean(values.slice(0, size)), finiteMean(values.slice(-size))];
}

function comparisons(r: PaperResults): string[] {
  const stats = (name: string) => evalOf(r, name).vsBase!.overall;
  const lines = r.arms.map((arm) => {
    const s = stats(arm.name);
    return `${arm.label}: ${pct(s.winRate)}% ${ci(s)} against the base (${s.wins} wins, ${s.ties} ties, ${s.losses} losses of ${s.n}): ${verdict(s)}.`;
  });
  const main = r.arms.filter((a) => a.paperWinRate !== null);
  const order = [...main].sort((a, b) => stats(b.name).winRate - stats(a.name).winRate);
  const paperOrder = [...main].sort((a, b) => b.paperWinRate! - a.paperWinRate!);
  const chain = (items: [string, number][]) => items.map(([l, v], i) => `${i ? (items[i - 1][1] > v ? ' > ' : ' = ') : ''}${l} ${v.toFixed(1)}`).join('');
  lines.push(
    `Order of the paper's arms by overall win rate here: ${chain(order.map((a) => [a.label, 100 * stats(a.name).winRate]))}; ` +
      `the paper's: ${chain(paperOrder.map((a) => [a.label, a.paperWinRate!]))}.`,
  );
  const pairs: [string, string][] = [['lsp', 'grpo'], ['lsp-from-grpo', 'grpo'], ['lsp', 'lsp-zero']];
  for (const [a, b] of pairs) {
    const [armA, armB] = [r.arms.find((x) => x.name === a), r.arms.find((x) => x.name === b)];
    if (!armA || !armB) continue;
    const [sa, sb] = [stats(a), stats(b)];
    const rel = sa.winRate > sb.winRate ? 'above' : sa.winRate < sb.winRate ? 'below' : 'level with';
    lines.push(`${armA.label} (${pct(sa.winRate)}) is ${rel} ${armB.label} (${pct(sb.winRate)}); their intervals ${overlap(sa, sb) ? 'overlap, so this run does not separate them' : 'do not overlap'}.`);
  }
  return lines;
}

function families(r: PaperResults): string[] {
  return r.arms.map((arm) => {
    const subsets = evalOf(r, arm.name).vsBase!.subsets.filter((s) => (FAMILY_NAMES as readonly string[]).includes(s.subset));
    const sorted = [...subsets].sort((a, b) => b.winRate - a.winRate);
    const [best, worst] = [sorted[0], sorted.at(-1)!];
    if (best.winRate === worst.winRate) return `${arm.label} per family: every family at ${pct(best.winRate)}%.`;
    return `${arm.label} per family: highest ${best.subset} ${pct(best.winRate)}% ${ci(best)}, lowest ${worst.subset} ${pct(worst.winRate)}% ${ci(worst)}.`;
  });
}

function accuracy(r: PaperResults): string {
  const overall = (name: string) => evalOf(r, name).accuracy.find((a) => a.group === 'overall')!;
  const show = (name: string) => `${pct(overall(name).greedy)} / ${pct(overall(name).meanK)}`;
  const parts = [`Base ${show('base')}%`, ...r.arms.map((a) => `${a.label} ${show(a.name)}%`)];
  return `Held-out accuracy, greedy / mean@${r.settings.k} at temperature 1: ${parts.join(', ')}.`;
}

function challenger(r: PaperResults): string[] {
  const lines: string[] = [];
  for (const arm of r.arms.filter((a) => a.diversity.length > 0)) {
    const w = arm.diversity;
    const [first, last] = [w[0], w.at(-1)!];
    const lowest = w.reduce((m, x) => (x.validFrac < m.validFrac ? x : m), first);
    const fell = last.validFrac < first.validFrac / 2 ? ' — it fell by more than half' : last.validFrac < first.validFrac ? ' — it fell' : last.validFrac > first.validFrac ? ' — it rose' : '';
    lines.push(
      `${arm.label} challenger validity: ${pct(first.validFrac)}% of queries in iterations ${iterationRange(first.from, first.to)}, ` +
        `${pct(last.validFrac)}% in ${iterationRange(last.from, last.to)}${fell}; lowest ${pct(lowest.validFrac)}% in ${iterationRange(lowest.from, lowest.to)}.`,
    );
    const validLast = Object.values(last.families).reduce((a, b) => a + b, 0);
    const top = Object.entries(last.families).sort((a, b) => b[1] - a[1])[0];
    const concentration = validLast ? `; most common family in the last window: ${top[0]} (${pct(top[1] / validLast)}% of ${validLast} valid queries)` : '; no valid query in the last window';
    lines.push(
      `${arm.label} query diversity: distinct-2 ${num(first.distinct2)} -> ${num(last.distinct2)}, ` +
        `distinct instances / valid ${pct(first.uniqueInstanceShare)}% -> ${pct(last.uniqueInstanceShare)}%${concentration}.`,
    );
  }
  return lines;
}

function training(r: PaperResults): string[] {
  const size = windowSize(r.spec.iterations);
  return r.arms.map((arm) => {
    const [r0, r1] = firstLast(arm, 'solver/reward/mean', size);
    const [ks] = firstLast(arm, 'kl/solver', size).slice(1);
    const [kc] = firstLast(arm, 'kl/challenger', size).slice(1);
    const ch = Number.isFinite(kc) ? `, challenger ${num(kc)}` : '';
    const n = arm.metrics.length;
    const [first, last] = [iterationRange(1, Math.min(size, n)), iterationRange(Math.max(1, n - size + 1), n)];
    return `${arm.label} training: mean solver reward ${num(r0)} in iterations ${first}, ${num(r1)} in ${last}; mean KL to its reference in ${last}: solver ${num(ks)}${ch} nats per sequence.`;
  });
}

export function narrative(r: PaperResults): string[] {
  return [...comparisons(r), ...families(r), accuracy(r), ...training(r), ...challenger(r)];
}
