// Prometheus text exposition, computed from the database at scrape time: the web side
// keeps no counters of its own, so a restart loses nothing.
import type { Database } from 'better-sqlite3';

const BUILD_BUCKETS_S = [30, 60, 120, 300, 600, 1200, 1800];
const LATENCY_BUCKETS_S = [60, 300, 900, 1800, 3600, 7200, 21600, 86400];

const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function histogram(
  name: string,
  help: string,
  buckets: number[],
  series: { labels: string; counts: number[]; sum: number; count: number }[],
): string[] {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  for (const s of series) {
    const sep = s.labels ? ',' : '';
    buckets.forEach((b, i) => out.push(`${name}_bucket{${s.labels}${sep}le="${b}"} ${s.counts[i] ?? 0}`));
    out.push(`${name}_bucket{${s.labels}${sep}le="+Inf"} ${s.count}`);
    out.push(`${name}_sum${s.labels ? `{${s.labels}}` : ''} ${s.sum}`);
    out.push(`${name}_count${s.labels ? `{${s.labels}}` : ''} ${s.count}`);
  }
  return out;
}

export function metricsText(db: Database): string {
  const out: string[] = [];

  const jobs = db
    .prepare(
      `SELECT kind, state, count(*) AS n FROM jobs WHERE state IN ('queued', 'running') GROUP BY kind, state`,
    )
    .all() as { kind: string; state: string; n: number }[];
  out.push(
    '# HELP listci_queue_depth Jobs waiting or running in the durable queue.',
    '# TYPE listci_queue_depth gauge',
  );
  for (const kind of ['check', 'reply']) {
    for (const state of ['queued', 'running']) {
      const n = jobs.find((j) => j.kind === kind && j.state === state)?.n ?? 0;
      out.push(`listci_queue_depth{kind="${kind}",state="${state}"} ${n}`);
    }
  }

  const runs = db
    .prepare(
      `SELECT coalesce(verdict, 'none') AS verdict, count(*) AS n FROM runs WHERE state = 'done' GROUP BY 1`,
    )
    .all() as { verdict: string; n: number }[];
  out.push('# HELP listci_runs_total Finished runs by verdict.', '# TYPE listci_runs_total counter');
  for (const v of ['pass', 'fail', 'error']) {
    out.push(`listci_runs_total{verdict="${v}"} ${runs.find((r) => r.verdict === v)?.n ?? 0}`);
  }

  // Cached baselines took no time and skipped builds never ran: neither says how long a build takes.
  const bucketSql = BUILD_BUCKETS_S.map((b, i) => `sum(duration_ms <= ${b * 1000}) AS b${i}`).join(', ');
  const builds = db
    .prepare(
      `SELECT toolchain, ${bucketSql}, sum(duration_ms) AS sum, count(*) AS n FROM builds
       WHERE duration_ms IS NOT NULL AND cached = 0 AND status != 'skipped' GROUP BY toolchain ORDER BY toolchain`,
    )
    .all() as Record<string, number | string>[];
  out.push(
    ...histogram(
      'listci_build_duration_seconds',
      'Wall time of one build (baseline or series) in its container.',
      BUILD_BUCKETS_S,
      builds.map((b) => ({
        labels: `toolchain="${label(String(b.toolchain))}"`,
        counts: BUILD_BUCKETS_S.map((_, i) => Number(b[`b${i}`] ?? 0)),
        sum: Number(b.sum ?? 0) / 1000,
        count: Number(b.n),
      })),
    ),
  );

  const latBuckets = LATENCY_BUCKETS_S.map((b, i) => `sum(s <= ${b}) AS b${i}`).join(', ');
  const lat = db
    .prepare(
      `SELECT ${latBuckets}, sum(s) AS sum, count(*) AS n FROM (
         SELECT (julianday(coalesce(r.reply_sent_at, rp.sent_at)) - julianday(r.mail_received_at)) * 86400 AS s
         FROM runs r LEFT JOIN replies rp ON rp.run_id = r.id
         WHERE r.mail_received_at IS NOT NULL AND coalesce(r.reply_sent_at, rp.sent_at) IS NOT NULL)`,
    )
    .get() as Record<string, number | null>;
  out.push(
    ...histogram(
      'listci_mail_to_reply_seconds',
      'From the first mail of a series reaching listci to the reply sent in its thread.',
      LATENCY_BUCKETS_S,
      [
        {
          labels: '',
          counts: LATENCY_BUCKETS_S.map((_, i) => Number(lat[`b${i}`] ?? 0)),
          sum: Math.round(Number(lat.sum ?? 0) * 1000) / 1000,
          count: Number(lat.n ?? 0),
        },
      ],
    ),
  );
  return out.join('\n') + '\n';
}
