/**
 * One uPlot chart as a Preact component: lines over iterations, one per (run, metric). Several runs are aligned
 * on the union of their iterations (gaps where a run has no point). The container carries `data-points`, the
 * number of x points drawn, so a test (or a curious user) can see a live curve grow.
 */
import { useEffect, useRef } from 'preact/hooks';
import { html } from 'htm/preact';
import uPlot from 'uplot';


export interface Line {
  label: string;
  xs: number[];
  ys: number[];
}

const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563', '#65a30d', '#9333ea'];

/** The lines on one shared x axis (sorted union of their x values), NaN as null (a gap). */
export function align(lines: readonly Line[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(lines.flatMap((l) => l.xs))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map((l) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    l.xs.forEach((x, i) => (col[at.get(x)!] = Number.isFinite(l.ys[i]) ? l.ys[i] : null));
    return col;
  });
  return [xs, ...ys];
}

const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];

/** `share`: the y axis spans [0, 1] whatever the data (a flat 0 stays at the bottom). */
export function Chart(props: { title: string; lines: Line[]; share?: boolean; width?: number; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const layout = useRef('');
  const data = align(props.lines);
  const key = props.lines.map((l) => l.label).join('\n');
  useEffect(() => {
    if (!box.current) return;
    if (plot.current && layout.current === key) {
      plot.current.setData(data as uPlot.AlignedData);
      return;
    }
    plot.current?.destroy();
    layout.current = key;
    const opts: uPlot.Options = {
      width: props.width ?? 290,
      height: props.height ?? 140,
      legend: { show: true, live: false },
      scales: { x: { time: false }, ...(props.share ? { y: { range: [0, 1] as [number, number] } } : {}) },
      axes: [{ incrs: STEPS }, { size: 44 }],
      series: [{ label: 'iteration' }, ...props.lines.map((l, i) => ({ label: l.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: data[0].length < 40 } }))],
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, box.current);
  });
  useEffect(() => () => plot.current?.destroy(), []);
  return html`<figure class="chart" data-chart=${props.title} data-points=${data[0].length}>
    <figcaption>${props.title}</figcaption>
    <div ref=${box}></div>
  </figure>`;
}
