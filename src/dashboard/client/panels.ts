/**
 * The panels of the page: training curves (every selected run overlaid per chart), tripped guards, challenger
 * diversity and difficulty over training, and win rates with their intervals.
 */
import { html } from 'htm/preact';
import { CHARTS, type DiversityPoint, type GuardEvent, type ResultTable, type RunView } from '../view-data.ts';
import { Chart, type Line } from './chart.ts';

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–');
const short = (key: string) => key.replace(/\/mean$/, '').replace(/^completions\/mean_length\//, 'length ');

function lines(views: RunView[], keys: string[]): Line[] {
  const many = views.length > 1;
  return views.flatMap((v) =>
    keys.filter((k) => k in v.series.values).map((k) => ({ label: many ? `${v.run.name}: ${short(k)}` : short(k), xs: v.series.iterations, ys: v.series.values[k] })),
  );
}

export function Curves(props: { views: RunView[] }) {
  const timeKeys = [...new Set(props.views.flatMap((v) => Object.keys(v.series.values).filter((k) => k.startsWith('time/'))))].sort();
  const charts = [...CHARTS, { title: 'Seconds per stage (time split)', keys: timeKeys }];
  const shown = charts.map((c) => ({ ...c, lines: lines(props.views, c.keys) })).filter((c) => c.lines.length > 0);
  const charted = new Set([...charts.flatMap((c) => c.keys)]);
  const more = [...new Set(props.views.flatMap((v) => Object.keys(v.series.values)))].filter((k) => !charted.has(k)).sort();
  const sampled = props.views.filter((v) => v.series.total > v.series.iterations.length);
  return html`<section class="curves">
    <h2>Training curves</h2>
    ${sampled.length ? html`<p class="muted">${sampled.map((v) => `${v.run.name}: ${v.series.total} iterations drawn as ${v.series.iterations.length} bucket means`).join('; ')}</p>` : null}
    <div class="grid">${shown.map((c) => html`<${Chart} key=${c.title} title=${c.title} lines=${c.lines} share=${c.share} />`)}</div>
    ${more.length ? html`<details class="more"><summary>More metrics (${more.length}): ${more.join(', ')}</summary>
      <div class="grid">${more.map((k) => html`<${Chart} key=${k} title=${k} lines=${lines(props.views, [k])} />`)}</div></details>` : null}
  </section>`;
}

export function Guards(props: { events: GuardEvent[] }) {
  if (props.events.length === 0) return html`<p class="guards ok">No guard tripped.</p>`;
  const last = props.events.slice(-8);
  return html`<div class="guards tripped" role="alert">
    <strong>Guards tripped on ${new Set(props.events.map((e) => e.iteration)).size} iterations</strong>
    <ul>${last.map((e) => html`<li><span class="tag bad">${e.guard}</span> iteration ${e.iteration}: ${e.message}</li>`)}</ul>
  </div>`;
}

/** A row of cells whose background bar is the count's share of the row. */
function HistRow(props: { label: string; counts: number[] }) {
  const total = props.counts.reduce((a, b) => a + b, 0);
  return html`<tr><th>${props.label}</th>${props.counts.map((c) => html`<td class="hist"><span class="bar" style=${{ width: `${total ? (100 * c) / total : 0}%` }}></span><span class="n">${c}</span></td>`)}</tr>`;
}

export function Diversity(props: { windows: DiversityPoint[] }) {
  const w = props.windows;
  if (w.length === 0) return html`<section class="diversity"><h3>Challenger diversity</h3><p class="muted">No samples yet.</p></section>`;
  const xs = w.map((d) => d.to);
  const line = (label: string, f: (d: DiversityPoint) => number) => ({ label, xs, ys: w.map(f) });
  const families = Object.keys(w[0].families);
  const levels = w[0].difficulties.map((_, i) => `L${i + 1}`);
  const range = (d: DiversityPoint) => (d.from === d.to ? `${d.from}` : `${d.from}-${d.to}`);
  return html`<section class="diversity">
    <h3>Challenger diversity and difficulty <span class="muted">(windows of iterations)</span></h3>
    <${Chart} title="Query diversity" share=${true} lines=${[
      line('distinct-1', (d) => d.distinct1),
      line('distinct-2', (d) => d.distinct2),
      line('unique queries', (d) => d.uniqueQueryShare),
      line('unique instances', (d) => d.uniqueInstanceShare),
      line('valid share', (d) => d.validFrac),
    ]} />
    <table class="histogram"><caption>Valid queries per family</caption>
      <thead><tr><th>iterations</th>${families.map((f) => html`<th>${f}</th>`)}</tr></thead>
      <tbody>${w.map((d) => html`<${HistRow} label=${range(d)} counts=${families.map((f) => (d.families as Record<string, number>)[f])} />`)}</tbody>
    </table>
    <table class="histogram"><caption>Valid queries per difficulty level</caption>
      <thead><tr><th>iterations</th>${levels.map((l) => html`<th>${l}</th>`)}</tr></thead>
      <tbody>${w.map((d) => html`<${HistRow} label=${range(d)} counts=${d.difficulties} />`)}</tbody>
    </table>
  </section>`;
}

/** An interval bar on 0..100%: the 95% CI as a band, the win rate as a tick, 50% as a line. */
function Interval(props: { lo: number; hi: number; x: number }) {
  const at = (v: number) => `${Math.max(0, Math.min(100, 100 * v))}%`;
  return html`<span class="interval"><span class="even"></span><span class="band" style=${{ left: at(props.lo), width: `calc(${at(props.hi)} - ${at(props.lo)})` }}></span><span class="tick" style=${{ left: at(props.x) }}></span></span>`;
}

export function Results(props: { tables: ResultTable[] }) {
  if (props.tables.length === 0) {
    return html`<section class="results"><h3>Win rates</h3><p class="muted">No evaluation of this run yet (selfplay eval --model RUN/model, or selfplay experiment paper).</p></section>`;
  }
  return html`<section class="results"><h3>Win rates</h3>
    ${props.tables.map((t) => html`<table class="winrates"><caption>${t.title} <span class="muted">${t.source}</span></caption>
      <thead><tr><th>subset</th><th>n</th><th>win rate</th><th>95% CI</th><th></th></tr></thead>
      <tbody>${t.rows.map((r) => html`<tr><th>${r.subset}</th><td class="num">${r.n}</td><td class="num">${pct(r.winRate)}</td><td class="num">[${pct(r.lo)}, ${pct(r.hi)}]</td><td><${Interval} lo=${r.lo} hi=${r.hi} x=${r.winRate} /></td></tr>`)}</tbody>
    </table>`)}
  </section>`;
}
