/**
 * Makes docs/dashboard.png: the dashboard over a folder of real runs, one run selected, its first judge text open.
 *   npx tsx scripts/dashboard-screenshot.ts RUNS_DIR RUN [out.png]
 * Needs Debian's chromium (/usr/bin/chromium); dev-only, like everything in scripts/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startDashboard } from '../src/dashboard/server.ts';

const [root, run, out = 'docs/dashboard.png'] = process.argv.slice(2);
if (!root || !run) throw new Error('usage: npx tsx scripts/dashboard-screenshot.ts RUNS_DIR RUN [out.png]');
const dash = await startDashboard({ root, port: 0 });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-shot-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1440, height: 1500 },
});
try {
  const page = await browser.newPage();
  await page.goto(`${dash.url}#run=${encodeURIComponent(run)}`);
  await page.locator('article.query details summary').first().waitFor({ timeout: 30_000 });
  await page.locator('article.query details summary').first().click();
  await page.waitForTimeout(500);
  await page.screenshot({ path: out });
  process.stderr.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await dash.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
