/** Hand-written SVG charts (src/experiment/svg.ts): well-formed, finite, bars proportional, gaps in lines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { barChart, escapeXml, lineChart, niceTicks } from '../src/experiment/svg.ts';

const NUMERIC = new Set(['x', 'y', 'width', 'height', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'data-value', 'stroke-width', 'font-size']);

interface Element {
  name: string;
  attrs: Record<string, string>;
}

/** A loose SVG check: balanced tags, every numeric attribute, point and path coordinate finite; returns the elements. */
function parseSvg(svg: string): Element[] {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  assert.doesNotMatch(svg, /&(?!amp;|lt;|gt;|quot;)/, 'unescaped &');
  const stack: string[] = [];
  const elements: Element[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g)) {
    const [, close, name, attrText, selfClosing] = m;
    if (close) {
      assert.equal(stack.pop(), name, `closing </${name}> does not match`);
      continue;
    }
    const attrs = Object.fromEntries([...attrText.matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
    for (const [k, v] of Object.entries(attrs)) {
      if (NUMERIC.has(k)) assert.ok(Number.isFinite(Number(v)), `${name} ${k}="${v}"`);
      if (k === 'points' || k === 'd' || k === 'viewBox') for (const num of v.match(/-?[\d.]+(?:e-?\d+)?/g) ?? []) assert.ok(Number.isFinite(Number(num)), `${k}: ${num}`);
    }
    elements.push({ name, attrs });
    if (!selfClosing) stack.push(name);
  }
  assert.deepEqual(stack, [], 'unclosed tags');
  // nothing that looks like a tag was left unparsed
  assert.equal(svg.replace(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g, '').includes('<'), false);
  return elements;
}

test('niceTicks: round steps covering the range', () => {
  assert.deepEqual(niceTicks(0, 100), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(-0.37, 0.71);
  assert.ok(t[0] <= -0.37 && t.at(-1)! >= 0.71, t.join(' '));
  assert.deepEqual(niceTicks(3, 3), niceTicks(3, 4));
});

test('bar chart: well-formed, bar heights proportional to values on one baseline, n/a for a missing value', () => {
  const values = [12.5, 50, 87.5, 3, 100];
  const svg = barChart({
    title: 'Win rate <vs> base & more',
    yLabel: 'win rate (%)',
    yMax: 100,
    referenceLine: { value: 50, label: 'tie' },
    groups: [
      { label: 'A', bars: [{ series: 's1', value: values[0], lo: 5, hi: 20 }, { series: 's2', value: values[1] }] },
      { label: 'B', bars: [{ series: 's1', value: values[2], lo: 80, hi: 95 }, { series: 's2', value: values[3] }] },
      { label: 'C', bars: [{ series: 's1', value: values[4] }, { series: 's2', value: NaN }] },
    ],
  });
  const bars = parseSvg(svg).filter((e) => e.name === 'rect' && e.attrs.class === 'bar');
  assert.deepEqual(bars.map((b) => Number(b.attrs['data-value'])), values);
  const perUnit = bars.map((b) => Number(b.attrs.height) / Number(b.attrs['data-value']));
  const spread = Math.max(...perUnit) / Math.min(...perUnit) - 1;
  console.log(`bar height per unit value: max relative spread ${spread.toExponential(2)}`);
  assert.ok(spread < 1e-3, `heights not proportional: ${perUnit.join(', ')}`);
  const baselines = new Set(bars.map((b) => (Number(b.attrs.y) + Number(b.attrs.height)).toFixed(1)));
  assert.equal(baselines.size, 1, 'bars do not share a baseline');
  // the value at yMax fills the plot: 100 is the tallest bar and the same series keeps its colour
  assert.equal(bars[4].attrs.fill, bars[0].attrs.fill);
  assert.notEqual(bars[1].attrs.fill, bars[0].attrs.fill);
  assert.match(svg, />n\/a</);
  assert.match(svg, /Win rate &lt;vs&gt; base &amp; more/);
  assert.equal((svg.match(/class="whisker"/g) ?? []).length, 2);
});

test('bar chart without yMax: the axis top is a round number above every value and interval end', () => {
  const svg = barChart({ title: 't', yLabel: 'y', groups: [{ label: 'g', bars: [{ series: 's', value: 0.3, lo: 0.2, hi: 0.43 }] }] });
  parseSvg(svg);
  assert.match(svg, />0\.5</);
});

test('line chart: one polyline per unbroken run, a lone point as a dot, y increases upwards', () => {
  const svg = lineChart({
    title: 'KL',
    xLabel: 'iteration',
    yLabel: 'nats',
    series: [
      { name: 'a', points: [[1, 0.1], [2, 0.4], [3, NaN], [4, 0.2], [5, 0.3]] },
      { name: 'b', points: [[1, -0.2], [2, NaN], [3, 0.5], [4, NaN]] },
      { name: 'empty', points: [] },
    ],
  });
  const el = parseSvg(svg);
  const lines = el.filter((e) => e.name === 'polyline');
  assert.equal(lines.length, 2, 'series a breaks at its missing point into two lines');
  const dots = el.filter((e) => e.name === 'circle');
  assert.equal(dots.length, 2, 'series b has two isolated points');
  const pts = lines[0].attrs.points.split(' ').map((p) => p.split(',').map(Number));
  assert.ok(pts[1][0] > pts[0][0], 'x grows left to right');
  assert.ok(pts[1][1] < pts[0][1], 'a larger value is drawn higher');
  assert.match(svg, />empty</);
});

test('line chart of only missing values still renders a valid empty plot', () => {
  parseSvg(lineChart({ title: 'none', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[1, NaN]] }] }));
  parseSvg(lineChart({ title: 'flat', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[1, 2], [2, 2]] }] }));
});

test('escapeXml', () => {
  assert.equal(escapeXml('a < b & "c" > d'), 'a &lt; b &amp; &quot;c&quot; &gt; d');
});
