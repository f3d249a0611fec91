// Prometheus text exposition, computed from the database at scrape time: the web side
// keeps no counters of its own, so a restart loses nothing.
import type { Database } from 'better-sqlite3';
import { buildDurationHistogram } from '../db/builds.ts';
import { depthByState, JOB_KINDS } from '../db/jobs.ts';
import { queueCounts } from '../db/build-queues.ts';
import { finishedRunsByVerdict, mailToReplyHistogram } from '../db/run-reads.ts';
import { listWorkers } from '../db/workers.ts';

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

  const jobs = depthByState(db);
  out.push(
    '# HELP listci_queue_depth Jobs waiting or running in the durable queue.',
    '# TYPE listci_queue_depth gauge',
  );
  for (const kind of JOB_KINDS) {
    for (const state of ['queued', 'running']) {
      const n = jobs.find((j) => j.kind === kind && j.state === state)?.n ?? 0;
      out.push(`listci_queue_depth{kind="${kind}",state="${state}"} ${n}`);
    }
  }

  out.push(...buildQueueMetrics(db));

  const runs = finishedRunsByVerdict(db);
  out.push('# HELP listci_runs_total Finished runs by verdict.', '# TYPE listci_runs_total counter');
  for (const v of ['pass', 'fail', 'error']) {
    out.push(`listci_runs_total{verdict="${v}"} ${runs.find((r) => r.verdict === v)?.n ?? 0}`);
  }

  const builds = buildDurationHistogram(db, BUILD_BUCKETS_S);
  out.push(
    ...histogram(
      'listci_build_duration_seconds',
      'Wall time of one build (baseline or series) in its container.',
      BUILD_BUCKETS_S,
      builds.map((b) => ({
        labels: `toolchain="${label(b.toolchain)}"`,
        counts: b.counts,
        sum: b.sumMs / 1000,
        count: b.count,
      })),
    ),
  );

  const lat = mailToReplyHistogram(db, LATENCY_BUCKETS_S);
  out.push(
    ...histogram(
      'listci_mail_to_reply_seconds',
      'From the first mail of a series reaching listci to the reply sent in its thread.',
      LATENCY_BUCKETS_S,
      [
        {
          labels: '',
          counts: lat.counts,
          sum: Math.round(lat.sumS * 1000) / 1000,
          count: lat.count,
        },
      ],
    ),
  );
  return out.join('\n') + '\n';
}

/** The Redis build queues and their workers (queue.type: redis), as the daemon last saw them. */
function buildQueueMetrics(db: Database): string[] {
  const out: string[] = [];
  const queues = queueCounts(db);
  if (queues.length) {
    out.push(
      "# HELP listci_build_queue_jobs Build jobs in each toolchain's Redis queue, by state, as last counted.",
      '# TYPE listci_build_queue_jobs gauge',
    );
    for (const q of queues)
      for (const state of ['waiting', 'active', 'delayed', 'failed'] as const)
        out.push(`listci_build_queue_jobs{toolchain="${label(q.toolchain)}",state="${state}"} ${q[state]}`);
  }
  const workers = listWorkers(db);
  if (workers.length) {
    out.push(
      '# HELP listci_worker_jobs_total Build jobs a worker finished since it started, by result.',
      '# TYPE listci_worker_jobs_total counter',
    );
    for (const w of workers) {
      out.push(`listci_worker_jobs_total{worker="${label(w.name)}",result="done"} ${w.jobsDone}`);
      out.push(`listci_worker_jobs_total{worker="${label(w.name)}",result="failed"} ${w.jobsFailed}`);
    }
    out.push(
      "# HELP listci_worker_up 1 while the worker's heartbeat is current, 0 once it stopped or fell silent.",
      '# TYPE listci_worker_up gauge',
    );
    for (const w of workers)
      out.push(
        `listci_worker_up{worker="${label(w.name)}"} ${w.state === 'gone' || w.state === 'stopped' ? 0 : 1}`,
      );
    out.push(
      '# HELP listci_worker_last_heartbeat_timestamp_seconds When the worker was last heard from (Unix time).',
      '# TYPE listci_worker_last_heartbeat_timestamp_seconds gauge',
    );
    for (const w of workers)
      out.push(
        `listci_worker_last_heartbeat_timestamp_seconds{worker="${label(w.name)}"} ${Math.round(Date.parse(w.lastHeartbeat) / 1000)}`,
      );
  }
  return out;
}
