/**
 * The page: src/dashboard/client/app.ts (Preact + htm + uPlot) bundled by esbuild in memory when the dashboard
 * starts (a fraction of a second; nothing is fetched from a network), plus uPlot's CSS and ours. The live page
 * loads the bundle from the server; an exported report inlines it with the run's data as inert JSON.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FeedItem, RunView } from './view-data.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export interface PageAssets {
  html: string;
  js: string;
  css: string;
}

let bundled: Promise<{ js: string; css: string }> | null = null;

async function bundle(): Promise<{ js: string; css: string }> {
  const result = await build({
    entryPoints: [path.join(here, 'client', 'app.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = result.outputFiles[0].text;
  const css = `${fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')}\n${fs.readFileSync(path.join(here, 'client', 'style.css'), 'utf8')}`;
  return { js, css };
}

/** JSON that is safe inside a <script> element: no `<`, `>`, `&` or line separators can end or confuse it. */
export function inertJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The live page's assets, or a report page with the bundle, the CSS and one run's view inlined. */
export async function pageAssets(o: { mode: 'live' } | { mode: 'report'; view: RunView; feed: FeedItem[] }): Promise<PageAssets> {
  bundled ??= bundle();
  const { js, css } = await bundled;
  const title = o.mode === 'live' ? 'selfplay dashboard' : `selfplay run ${o.view.run.name}`;
  const head = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>`;
  if (o.mode === 'live') {
    return { html: `${head}<link rel="stylesheet" href="/app.css"></head><body><div id="app"></div><script src="/app.js"></script></body></html>\n`, js, css };
  }
  // a </script> inside the bundle's strings would end the element early
  const inlineJs = js.replace(/<\/(script)/gi, '<\\/$1');
  const html =
    `${head}<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">` +
    `<style>${css.replace(/<\/(style)/gi, '<\\/$1')}</style></head><body><div id="app"></div>` +
    `<script type="application/json" id="selfplay-report">${inertJson({ view: o.view, feed: o.feed })}</script><script>${inlineJs}</script></body></html>\n`;
  return { html, js, css };
}
