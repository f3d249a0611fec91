import type { Database } from 'better-sqlite3';
import { now } from './open.ts';
import { int, raw, text } from './row.ts';
import { stmt } from './stmt.ts';

// The jobs in each toolchain's build queue in Redis, as the daemon last counted them
// (queue.type: redis): what /metrics shows as the queue's depth.

/** Jobs per state of one toolchain's queue, as read from Redis. */
export interface QueueCounts {
  toolchain: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

export type QueueCountsRow = QueueCounts & { updatedAt: string };

/** The counts of one refresh replace the last: a toolchain no longer configured disappears. */
export function recordQueueCounts(db: Database, counts: QueueCounts[]): void {
  const ts = now();
  db.transaction(() => {
    stmt(db, 'DELETE FROM build_queues').run();
    for (const c of counts)
      stmt(
        db,
        `INSERT INTO build_queues (toolchain, waiting, active, delayed, failed, completed, updated_at)
           VALUES (@toolchain, @waiting, @active, @delayed, @failed, @completed, @ts)`,
      ).run({ ...c, ts });
  })();
}

export function queueCounts(db: Database): QueueCountsRow[] {
  return stmt(db, 'SELECT * FROM build_queues ORDER BY toolchain')
    .all()
    .map((row) => {
      const r = raw(row, 'build_queues');
      return {
        toolchain: text(r, 'toolchain'),
        waiting: int(r, 'waiting'),
        active: int(r, 'active'),
        delayed: int(r, 'delayed'),
        failed: int(r, 'failed'),
        completed: int(r, 'completed'),
        updatedAt: text(r, 'updated_at'),
      };
    });
}
