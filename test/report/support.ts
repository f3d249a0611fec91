// Shared by the reply tests: a real SQLite file with runs to reply to, and the config and
// input a daemon would hand to queueReply.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawConfig } from '../../src/config/schema.ts';
import type { CheckResult } from '../../src/contract.ts';
import { openDb, type Database } from '../../src/db/open.ts';
import type { QueueReplyOptions } from '../../src/report/reply.ts';

export const LIST = 'xen-devel@lists.example.org';
export const AUTHOR = 'Jane Doe <jane@example.org>';

export interface TempDb {
  db: Database;
  dir: string;
  path: string;
  cleanup(): void;
}

/** A fresh database file with runs 1..runs recorded (replies reference them). */
export function tempDb(runs = 10): TempDb {
  const dir = mkdtempSync(join(tmpdir(), 'listci-report-'));
  const path = join(dir, 'listci.db');
  const db = openDb(path);
  const add = db.prepare(`INSERT INTO runs (id, state, queued_at) VALUES (?, 'done', ?)`);
  for (let i = 1; i <= runs; i++) add.run(i, '2024-03-01T10:00:00.000Z');
  return { db, dir, path, cleanup: () => (db.close(), rmSync(dir, { recursive: true, force: true })) };
}

export const fixture = (name: string): CheckResult =>
  JSON.parse(readFileSync(new URL(`../fixtures/report/${name}`, import.meta.url), 'utf8')) as CheckResult;

export function replyConfig(over: Partial<RawConfig['reply']> = {}): RawConfig['reply'] {
  return {
    policy: 'always',
    dryRun: false,
    outbox: '/nonexistent',
    from: 'listci <listci@ci.example.org>',
    ccList: true,
    cc: [],
    optOut: [],
    perAuthorPerHour: 5,
    perHour: 60,
    webUrl: 'https://ci.example.org/listci',
    smtp: null,
    retryBaseSeconds: 60,
    ...over,
  };
}

/** What the daemon passes for run `runId` of Jane's v2 series (or another author's). */
export function queueOptions(
  runId: number,
  result: CheckResult,
  reply: RawConfig['reply'],
  author = AUTHOR,
): QueueReplyOptions {
  return {
    reply,
    listAddress: LIST,
    input: {
      result,
      runId,
      reproduce: 'listci check --mbox v2-split-hvm-cpu-callbacks.mbox',
      head: {
        subject: '[PATCH v2 0/3] xen/x86: split hvm cpu callbacks',
        messageId: `20240301101500.${runId}-1-jane@example.org`,
        references: ['20240220090000.1111-1-jane@example.org'],
        author,
      },
    },
    now: new Date('2024-03-01T10:30:00.000Z'),
  };
}
