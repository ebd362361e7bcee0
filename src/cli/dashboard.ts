/**
 * `selfplay dashboard [RUNS_DIR]`: serves the live dashboard over a folder of run folders until Ctrl-C, or with
 * `--export FILE` writes one run's self-contained HTML report and exits.
 */
import { exportReport } from '../dashboard/report.ts';
import { startDashboard } from '../dashboard/server.ts';

export interface DashboardFlags {
  port?: number;
  host?: string;
  export?: string;
  run?: string;
}

export async function dashboardCommand(root: string, flags: DashboardFlags): Promise<void> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (flags.export) {
    const r = await exportReport(root, flags.run, flags.export);
    log(`wrote ${flags.export}: run ${r.run}, ${r.queries} queries, ${(r.bytes / 1e6).toFixed(2)} MB (one file; opens without a server)`);
    return;
  }
  const d = await startDashboard({ root, port: flags.port, host: flags.host });
  log(`selfplay dashboard over ${root}: ${d.url}  (read-only; Ctrl-C to stop)`);
  if (flags.host && !['127.0.0.1', 'localhost', '::1'].includes(flags.host)) log(`note: listening on ${flags.host}, reachable from other machines; the runs' samples are visible to them`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void d.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
