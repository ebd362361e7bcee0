/**
 * Hand-written SVG charts (pure functions, no dependencies): a grouped bar chart with optional interval whiskers
 * (the paper's Figures 2 and 3) and a line chart (training curves). Non-finite values are never drawn: a bar
 * without a value shows "n/a", a line breaks where a point is missing. Every number written is finite.
 */

export interface Bar {
  series: string;
  value: number;
  /** Interval around the value (e.g. a 95% bootstrap CI), drawn as a whisker. */
  lo?: number;
  hi?: number;
}

export interface BarGroup {
  label: string;
  bars: readonly Bar[];
}

export interface BarChartSpec {
  title: string;
  yLabel: string;
  groups: readonly BarGroup[];
  /** Top of the y axis (default: a round number above every value and interval end). */
  yMax?: number;
  /** A dashed horizontal line, e.g. 50% = a tie with the base. */
  referenceLine?: { value: number; label: string };
  width?: number;
  height?: number;
}

export interface LineSeries {
  name: string;
  /** Line colour (default: the palette colour of the series' position). */
  colour?: string;
  /** [x, y] points; a point with a non-finite y breaks the line. */
  points: readonly (readonly [number, number])[];
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  width?: number;
  height?: number;
}

/** Colour of the k-th series (colour-blind-safe Okabe-Ito order). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const MARGIN = { left: 64, right: 16, top: 40, bottom: 72 };

/** Escapes text for an SVG text node or attribute. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A coordinate with 2 decimals; never "NaN" (callers only pass finite numbers, this is the last guard). */
const n = (v: number) => (Number.isFinite(v) ? String(Math.round(v * 100) / 100) : '0');

/** A tick label: few digits, no trailing zeros. */
const tickLabel = (v: number) => String(Number(v.toPrecision(4)));

/** Round tick values (steps of 1, 2 or 5 x 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t < hi + step - 1e-9 * step; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${n(width)}" height="${n(height)}" fill="#ffffff"/>`,
    `<text x="${n(width / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** The y axis (gridlines, tick labels, axis title) for values mapped by `y`. */
function yAxis(ticks: number[], y: (v: number) => number, x0: number, x1: number, label: string, plotMid: number): string[] {
  const out = ticks.map(
    (t) =>
      `<line x1="${n(x0)}" y1="${n(y(t))}" x2="${n(x1)}" y2="${n(y(t))}" stroke="#dddddd"/>` +
      `<text x="${n(x0 - 6)}" y="${n(y(t) + 4)}" text-anchor="end">${escapeXml(tickLabel(t))}</text>`,
  );
  out.push(`<text x="16" y="${n(plotMid)}" text-anchor="middle" transform="rotate(-90 16 ${n(plotMid)})">${escapeXml(label)}</text>`);
  return out;
}

/** Legend entries, one per line: a colour swatch, or a dashed line for the reference line. */
interface LegendEntry {
  name: string;
  colour: string;
  dashed?: boolean;
}

function legend(entries: readonly LegendEntry[], x: number, y: number): string[] {
  return entries.map((e, k) => {
    const ly = y + k * 16;
    const mark = e.dashed
      ? `<line x1="${n(x)}" y1="${n(ly - 4)}" x2="${n(x + 10)}" y2="${n(ly - 4)}" stroke="${e.colour}" stroke-dasharray="3 2"/>`
      : `<rect x="${n(x)}" y="${n(ly - 9)}" width="10" height="10" fill="${e.colour}"/>`;
    return `${mark}<text x="${n(x + 14)}" y="${n(ly)}">${escapeXml(e.name)}</text>`;
  });
}

const colourOf = (k: number) => PALETTE[k % PALETTE.length];

const seriesNames = (groups: readonly BarGroup[]) => [...new Set(groups.flatMap((g) => g.bars.map((b) => b.series)))];

/** A grouped bar chart: one cluster per group, one coloured bar per series, bar height proportional to value. */
export function barChart(spec: BarChartSpec): string {
  const series = seriesNames(spec.groups);
  const legendHeight = 16 * (series.length + (spec.referenceLine ? 1 : 0));
  const width = spec.width ?? Math.max(480, MARGIN.left + MARGIN.right + spec.groups.length * (series.length * 22 + 24));
  const height = spec.height ?? 360 + legendHeight;
  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: MARGIN.top, y1: height - MARGIN.bottom - legendHeight };
  const extremes = spec.groups.flatMap((g) => g.bars.flatMap((b) => [b.value, b.hi ?? 0])).filter(Number.isFinite);
  const top = spec.yMax ?? niceTicks(0, Math.max(1e-9, ...extremes, spec.referenceLine?.value ?? 0)).at(-1)!;
  const y = (v: number) => plot.y1 - (Math.max(0, Math.min(v, top)) / top) * (plot.y1 - plot.y0);
  const body = yAxis(niceTicks(0, top).filter((t) => t <= top + 1e-9), y, plot.x0, plot.x1, spec.yLabel, (plot.y0 + plot.y1) / 2);
  const groupWidth = (plot.x1 - plot.x0) / Math.max(1, spec.groups.length);
  const barWidth = Math.min(40, (groupWidth * 0.8) / Math.max(1, series.length));
  spec.groups.forEach((g, gi) => {
    const cx = plot.x0 + groupWidth * (gi + 0.5);
    const left = cx - (barWidth * series.length) / 2;
    for (const bar of g.bars) {
      const k = series.indexOf(bar.series);
      const bx = left + k * barWidth;
      const mid = bx + barWidth / 2;
      if (!Number.isFinite(bar.value)) {
        body.push(`<text x="${n(mid)}" y="${n(plot.y1 - 4)}" text-anchor="middle" font-size="9">n/a</text>`);
        continue;
      }
      const fill = colourOf(k);
      body.push(
        `<rect class="bar" data-value="${n(bar.value)}" x="${n(bx + 1)}" y="${n(y(bar.value))}" width="${n(barWidth - 2)}" height="${n(plot.y1 - y(bar.value))}" fill="${fill}"><title>${escapeXml(`${g.label}, ${bar.series}: ${tickLabel(bar.value)}`)}</title></rect>`,
      );
      if (Number.isFinite(bar.lo) && Number.isFinite(bar.hi)) {
        const [ylo, yhi] = [y(bar.lo!), y(bar.hi!)];
        body.push(
          `<path class="whisker" d="M${n(mid)} ${n(ylo)}V${n(yhi)}M${n(mid - 4)} ${n(ylo)}H${n(mid + 4)}M${n(mid - 4)} ${n(yhi)}H${n(mid + 4)}" stroke="#333333" fill="none"/>`,
        );
      }
    }
    body.push(`<text x="${n(cx)}" y="${n(plot.y1 + 16)}" text-anchor="middle">${escapeXml(g.label)}</text>`);
  });
  if (spec.referenceLine && Number.isFinite(spec.referenceLine.value)) {
    const ry = y(spec.referenceLine.value);
    body.push(`<line x1="${n(plot.x0)}" y1="${n(ry)}" x2="${n(plot.x1)}" y2="${n(ry)}" stroke="#999999" stroke-dasharray="5 4"/>`);
  }
  body.push(`<line x1="${n(plot.x0)}" y1="${n(plot.y1)}" x2="${n(plot.x1)}" y2="${n(plot.y1)}" stroke="#333333"/>`);
  const entries: LegendEntry[] = series.map((name, k) => ({ name, colour: colourOf(k) }));
  if (spec.referenceLine) entries.push({ name: spec.referenceLine.label, colour: '#999999', dashed: true });
  body.push(...legend(entries, plot.x0, plot.y1 + 40));
  return frame(width, height, spec.title, body);
}

/** Runs of consecutive finite points (a line breaks at a missing value). */
function segments(points: readonly (readonly [number, number])[]): (readonly [number, number])[][] {
  const out: (readonly [number, number])[][] = [[]];
  for (const p of points) {
    if (Number.isFinite(p[0]) && Number.isFinite(p[1])) out.at(-1)!.push(p);
    else if (out.at(-1)!.length) out.push([]);
  }
  return out.filter((s) => s.length > 0);
}

/** A line chart, one coloured line per series; single isolated points are drawn as dots. */
export function lineChart(spec: LineChartSpec): string {
  const legendHeight = 16 * spec.series.length;
  const width = spec.width ?? 560;
  const height = spec.height ?? 300 + legendHeight;
  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: MARGIN.top, y1: height - MARGIN.bottom - legendHeight };
  const pts = spec.series.flatMap((s) => segments(s.points).flat());
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [xlo, xhi] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (xhi === xlo) [xlo, xhi] = [xlo - 1, xhi + 1];
  let [ylo, yhi] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (yhi === ylo) [ylo, yhi] = [ylo - Math.max(0.5, Math.abs(ylo) / 2), yhi + Math.max(0.5, Math.abs(yhi) / 2)];
  const yTicks = niceTicks(ylo, yhi);
  [ylo, yhi] = [Math.min(ylo, yTicks[0]), Math.max(yhi, yTicks.at(-1)!)];
  const x = (v: number) => plot.x0 + ((v - xlo) / (xhi - xlo)) * (plot.x1 - plot.x0);
  const y = (v: number) => plot.y1 - ((v - ylo) / (yhi - ylo)) * (plot.y1 - plot.y0);
  const body = yAxis(yTicks, y, plot.x0, plot.x1, spec.yLabel, (plot.y0 + plot.y1) / 2);
  for (const t of niceTicks(xlo, xhi).filter((t) => t >= xlo - 1e-9 && t <= xhi + 1e-9)) {
    body.push(`<text x="${n(x(t))}" y="${n(plot.y1 + 16)}" text-anchor="middle">${escapeXml(tickLabel(t))}</text>`);
  }
  body.push(`<text x="${n((plot.x0 + plot.x1) / 2)}" y="${n(plot.y1 + 34)}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  spec.series.forEach((s, k) => {
    const colour = s.colour ?? colourOf(k);
    for (const seg of segments(s.points)) {
      if (seg.length === 1) body.push(`<circle cx="${n(x(seg[0][0]))}" cy="${n(y(seg[0][1]))}" r="2.5" fill="${colour}"/>`);
      else body.push(`<polyline class="line" fill="none" stroke="${colour}" stroke-width="1.5" points="${seg.map(([px, py]) => `${n(x(px))},${n(y(py))}`).join(' ')}"/>`);
    }
  });
  body.push(`<rect x="${n(plot.x0)}" y="${n(plot.y0)}" width="${n(plot.x1 - plot.x0)}" height="${n(plot.y1 - plot.y0)}" fill="none" stroke="#333333"/>`);
  body.push(...legend(spec.series.map((s, k) => ({ name: s.name, colour: s.colour ?? colourOf(k) })), plot.x0, plot.y1 + 54));
  return frame(width, height, spec.title, body);
}
