import type { Database } from 'better-sqlite3';
import { queueCounts, type QueueCountsRow } from '../db/build-queues.ts';
import { listWorkers, type WorkerRow } from '../db/workers.ts';
import { escapeTerminal, formatTable } from './terminal.ts';

// The build hosts and the build queues, as `listci query workers` and GET /api/workers show
// them (docs/api.md). Empty lists on a daemon without a build queue (queue.type unset).

export interface WorkerView extends Omit<WorkerRow, 'updatedAt'> {
  /** Seconds between the last heartbeat and now: what "is it alive" comes down to. */
  heartbeatAgeSeconds: number;
}

export interface WorkersView {
  workers: WorkerView[];
  /** Jobs per state in each toolchain's queue, as the daemon last counted them. */
  queues: QueueCountsRow[];
}

export function listWorkerViews(db: Database, at: Date = new Date()): WorkersView {
  return {
    workers: listWorkers(db).map(({ updatedAt: _updatedAt, ...w }) => ({
      ...w,
      heartbeatAgeSeconds: Math.max(0, Math.round((at.getTime() - Date.parse(w.lastHeartbeat)) / 1000)),
    })),
    queues: queueCounts(db),
  };
}

/** "gcc-12 clang-14 !gcc-12-arm64": served, then offered but not served. */
export function toolchainsCell(w: Pick<WorkerRow, 'toolchains' | 'missing'>): string {
  return [...w.toolchains, ...Object.keys(w.missing).map((t) => `!${t}`)].join(' ') || '-';
}

/** The table `listci query workers` prints; worker names and reasons are escaped like any cell. */
export function describeWorkersText(view: WorkersView): string {
  const parts: string[] = [];
  if (view.workers.length === 0)
    parts.push('no workers have been seen (the daemon records them with queue.type: redis)');
  else
    parts.push(
      formatTable(
        ['NAME', 'STATE', 'TOOLCHAINS', 'LAST HEARTBEAT', 'AGO', 'DONE', 'FAILED', 'BUILDING'],
        view.workers.map((w) => [
          w.name,
          w.state,
          toolchainsCell(w),
          minute(w.lastHeartbeat),
          ago(w.heartbeatAgeSeconds),
          w.jobsDone,
          w.jobsFailed,
          w.currentJobs.join(' ') || '-',
        ]),
      ),
    );
  for (const w of view.workers)
    for (const [t, why] of Object.entries(w.missing))
      parts.push(escapeTerminal(`  ${w.name}: not ${t}: ${why}`));
  if (view.queues.length)
    parts.push(
      '',
      formatTable(
        ['QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'COUNTED'],
        view.queues.map((c) => [c.toolchain, c.waiting, c.active, c.delayed, c.failed, minute(c.updatedAt)]),
      ),
    );
  return parts.join('\n');
}

const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function ago(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return seconds < 172_800 ? `${Math.round(seconds / 3600)} h` : `${Math.round(seconds / 86_400)} d`;
}
