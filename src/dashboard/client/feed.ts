/**
 * The game feed of one run: the challenger's queries, newest iteration first, a page at a time, filtered by
 * family, validity and reward; each with its G answers, their rewards, the judge's scores and the judge's text.
 * All text is rendered as text (Preact escapes it); nothing from a sample is ever treated as markup.
 */
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import type { FeedFilter, FeedItem, FeedPage } from '../view-data.ts';

const PAGE = 10;
const FAMILIES = ['reverse', 'uppercase', 'repeat', 'sort', 'add', 'largest'];

export type FeedSource = (run: string, filter: FeedFilter, offset: number, limit: number) => Promise<FeedPage>;

const fmt = (x: number | null | undefined, d = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–');

function Answer(props: { a: FeedItem['answers'][number]; j: number }) {
  const { a } = props;
  const cls = a.reward === null ? '' : a.reward >= 1 ? 'good' : a.reward <= 0 ? 'bad' : 'part';
  return html`<tr class="answer">
    <td class="num">${props.j + 1}</td>
    <td><pre class="answer-text">${a.answer}</pre></td>
    <td class=${`num reward ${cls}`}>${fmt(a.reward)}</td>
    <td class="num">${fmt(a.self_score, 0)}</td>
    <td>${a.judge ? html`<details><summary>${judgeLine(a.judge)}</summary><pre class="judge">${a.judge}</pre></details>` : html`<span class="muted">no judge (not lsp)</span>`}</td>
  </tr>`;
}

/** The judge's first sentence and score, as the collapsed summary. */
function judgeLine(text: string): string {
  const score = /<Score>\s*([^<]*)<\/Score>/.exec(text)?.[1] ?? '?';
  const first = text.split('\n')[0].slice(0, 80);
  return `score ${score}: ${first}${first.length >= 80 ? '…' : ''}`;
}

function Item(props: { item: FeedItem }) {
  const q = props.item;
  return html`<article class="query" data-iteration=${q.iteration}>
    <header>
      <span class="tag">iter ${q.iteration}</span>
      <span class="tag">${q.family ?? 'no family'}</span>
      ${q.difficulty !== null ? html`<span class="tag">level ${q.difficulty}</span>` : null}
      <span class=${`tag ${q.valid ? 'good' : 'bad'}`}>${q.valid ? 'valid' : 'invalid'}</span>
      <span class="tag">challenger reward ${fmt(q.challenger_reward)}</span>
    </header>
    <pre class="query-text">${q.query}</pre>
    ${q.invalidReason ? html`<p class="reason bad">not a world task: ${q.invalidReason}</p>` : null}
    <table class="answers">
      <thead><tr><th>#</th><th>answer</th><th>reward</th><th>self</th><th>judge</th></tr></thead>
      <tbody>${q.answers.map((a, j) => html`<${Answer} a=${a} j=${j} />`)}</tbody>
    </table>
  </article>`;
}

export function Feed(props: { run: string; source: FeedSource; version: number }) {
  const [filter, setFilter] = useState<FeedFilter>({});
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<FeedPage | null>(null);
  const [error, setError] = useState('');
  // a live run refreshes the page it shows; filters and paging start from the newest again
  useEffect(() => {
    let stale = false;
    props.source(props.run, filter, offset, PAGE).then((p) => !stale && (setPage(p), setError('')), (e: Error) => !stale && setError(e.message));
    return () => void (stale = true);
  }, [props.run, filter, offset, props.version]);
  const set = (patch: Partial<FeedFilter>) => (setFilter({ ...filter, ...patch }), setOffset(0));
  const pick = (e: Event) => (e.target as HTMLSelectElement).value;
  const total = page?.total ?? 0;
  return html`<section class="feed">
    <h3>Game feed <span class="muted">${total} queries</span></h3>
    <div class="filters">
      <select aria-label="family" onChange=${(e: Event) => set({ family: pick(e) || undefined })}>
        <option value="">every family</option>${FAMILIES.map((f) => html`<option value=${f}>${f}</option>`)}
      </select>
      <select aria-label="validity" onChange=${(e: Event) => set({ valid: (pick(e) || undefined) as FeedFilter['valid'] })}>
        <option value="">valid and invalid</option><option value="valid">valid</option><option value="invalid">invalid</option>
      </select>
      <select aria-label="reward" onChange=${(e: Event) => set({ reward: (pick(e) || undefined) as FeedFilter['reward'] })}>
        <option value="">any reward</option><option value="solved">all answers right</option><option value="failed">all answers wrong</option><option value="mixed">mixed</option>
      </select>
      <input type="number" min="1" placeholder="iteration" aria-label="iteration"
        onChange=${(e: Event) => set({ iteration: pick(e) ? Number(pick(e)) : undefined })} />
      <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>newer</button>
      <span class="muted">${total ? `${offset + 1}-${Math.min(total, offset + PAGE)} of ${total}` : 'none'}</span>
      <button disabled=${offset + PAGE >= total} onClick=${() => setOffset(offset + PAGE)}>older</button>
    </div>
    ${error ? html`<p class="bad">${error}</p>` : null}
    ${(page?.items ?? []).map((item) => html`<${Item} item=${item} />`)}
  </section>`;
}
