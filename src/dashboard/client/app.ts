/**
 * The dashboard page. Live: the run list and each selected run's view come from the server, and server-sent
 * events say when a run grew, so curves and the feed update without a reload. Report (an exported file): one
 * run's view and its whole feed are embedded as JSON and nothing is fetched. The selection lives in the URL
 * hash (`#run=a&run=b`), read as plain names.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { type FeedFilter, type FeedItem, feedKey, type FeedPage, pageIndices, type RunSummary, type RunView } from '../view-data.ts';
import { Feed, type FeedSource } from './feed.ts';
import { Curves, Diversity, Guards, Results } from './panels.ts';


interface Report {
  view: RunView;
  feed: FeedItem[];
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${(await r.json().catch(() => ({}))).error ?? ''}`);
  return (await r.json()) as T;
}

const liveFeed: FeedSource = (run, f, offset, limit) => {
  const q = new URLSearchParams({ run, offset: String(offset), limit: String(limit) });
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== '') q.set(k, String(v));
  return getJson<FeedPage>(`/api/feed?${q}`);
};

function reportFeed(items: FeedItem[]): FeedSource {
  const keys = items.map(feedKey);
  return async (_run: string, f: FeedFilter, offset: number, limit: number) => {
    const { total, indices } = pageIndices(keys, f, offset, limit);
    return { total, offset, items: indices.map((i) => items[i]) };
  };
}

const selectedFromHash = () => new URLSearchParams(location.hash.slice(1)).getAll('run');

function RunList(props: { runs: RunSummary[]; selected: string[]; toggle: (name: string) => void }) {
  return html`<nav class="runs"><h2>Runs</h2>
    ${props.runs.length === 0 ? html`<p class="muted">No run folders here yet. Start one with npx selfplay train --out RUNS_DIR/NAME.</p>` : null}
    <ul>${props.runs.map((r) => html`<li class=${props.selected.includes(r.name) ? 'selected' : ''}>
      <label><input type="checkbox" checked=${props.selected.includes(r.name)} onChange=${() => props.toggle(r.name)} />
        <span class="run-name">${r.name}</span></label>
      <div class="muted">${r.mode} · ${r.done}/${Number.isFinite(r.planned) ? r.planned : '?'} it
        ${r.live ? html` · <span class="live">live</span>` : null}
        ${r.guardTrips ? html` · <span class="tag bad">guard ×${r.guardTrips}</span>` : null}</div>
    </li>`)}</ul></nav>`;
}

/** One run's panels: the feed beside the rest when the run is shown alone, everything stacked when side by side. */
function RunColumn(props: { view: RunView; feed: FeedSource; version: number; alone: boolean }) {
  const v = props.view;
  return html`<div class=${`run-column${props.alone ? ' alone' : ''}`} data-run=${v.run.name}>
    <h2>${v.run.name} <span class="muted">${v.run.mode} on ${v.run.model}, ${v.run.done} iterations${v.run.live ? ' (live)' : ''}</span></h2>
    <${Guards} events=${v.guards} />
    <div class="panels">
      <${Feed} run=${v.run.name} source=${props.feed} version=${props.version} />
      <div class="side">
        <${Results} tables=${v.results} />
        <${Diversity} windows=${v.diversity} />
        ${v.config ? html`<details class="config"><summary>config.json</summary><pre>${JSON.stringify(v.config, null, 2)}</pre></details>` : null}
      </div>
    </div>
  </div>`;
}

function LiveApp() {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [selected, setSelected] = useState<string[]>(selectedFromHash());
  const [views, setViews] = useState<Record<string, RunView>>({});
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [status, setStatus] = useState('connecting');
  const load = (name: string) => getJson<RunView>(`/api/view?run=${encodeURIComponent(name)}`).then((v) => setViews((all) => ({ ...all, [name]: v })), () => {});
  useEffect(() => {
    const es = new EventSource('/api/events');
    es.addEventListener('runs', (e) => {
      const list = JSON.parse((e as MessageEvent).data) as RunSummary[];
      setRuns(list);
      setSelected((sel) => (sel.length ? sel : [...list].sort((a, b) => b.updated - a.updated).slice(0, 1).map((r) => r.name)));
    });
    es.addEventListener('update', (e) => {
      const r = JSON.parse((e as MessageEvent).data) as RunSummary;
      setRuns((list) => list.map((x) => (x.name === r.name ? r : x)));
      setVersions((v) => ({ ...v, [r.name]: (v[r.name] ?? 0) + 1 }));
    });
    es.onopen = () => setStatus('live');
    es.onerror = () => setStatus('reconnecting');
    return () => es.close();
  }, []);
  // (re)load the selected runs when the selection or the list of runs changes (a selected run may appear later)
  useEffect(() => {
    location.hash = new URLSearchParams(selected.map((s) => ['run', s])).toString();
    for (const name of selected) void load(name);
  }, [selected.join('\n'), runs.map((r) => r.name).join('\n')]);
  useEffect(() => {
    for (const name of selected) if (versions[name]) void load(name);
  }, [JSON.stringify(selected.map((s) => versions[s] ?? 0))]);
  const toggle = (name: string) => setSelected((sel) => (sel.includes(name) ? sel.filter((s) => s !== name) : [...sel, name]));
  const shown = selected.map((s) => views[s]).filter((v): v is RunView => v !== undefined);
  return html`<div class="layout">
    <${RunList} runs=${runs} selected=${selected} toggle=${toggle} />
    <main>
      <header class="top"><h1>selfplay dashboard</h1><span class=${`status ${status}`}>${status}</span></header>
      ${shown.length ? html`<${Curves} views=${shown} />` : html`<p class="muted">Select a run.</p>`}
      <div class="columns">${shown.map((v) => html`<${RunColumn} key=${v.run.name} view=${v} feed=${liveFeed} version=${versions[v.run.name] ?? 0} alone=${shown.length === 1} />`)}</div>
    </main>
  </div>`;
}

function ReportApp(props: { report: Report }) {
  const v = props.report.view;
  return html`<div class="layout report"><main>
    <header class="top"><h1>selfplay run ${v.run.name}</h1><span class="status">report</span></header>
    <${Curves} views=${[v]} />
    <div class="columns"><${RunColumn} view=${v} feed=${reportFeed(props.report.feed)} version=${0} alone=${true} /></div>
  </main></div>`;
}

const embedded = document.getElementById('selfplay-report');
const root = document.getElementById('app')!;
if (embedded) render(html`<${ReportApp} report=${JSON.parse(embedded.textContent ?? '{}') as Report} />`, root);
else render(html`<${LiveApp} />`, root);
