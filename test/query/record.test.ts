// recordCheckResult: what the pipeline hands over is what a maintainer can search later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../src/db/open.ts';
import { recordCheckResult } from '../../src/db/runs.ts';
import type { CheckResult } from '../../src/contract.ts';

const result: CheckResult = {
  listciVersion: '0.1.0',
  series: {
    title: 'x86/mm: split the p2m lock',
    version: 1,
    author: 'Jan Beulich <jbeulich@suse.com>',
    messageId: null,
    patches: [{ number: 1, subject: '[PATCH] x86/mm: split the p2m lock', messageId: null }],
    complete: true,
    missing: [],
  },
  base: { commit: 'abc123', ref: 'staging', reason: 'explicit --range base', steps: [] },
  apply: {
    ok: true,
    applied: 1,
    total: 1,
    failedPatch: null,
    error: null,
    conflicts: [],
    mangled: null,
    skipped: 0,
  },
  builds: [
    {
      toolchain: 'gcc-12',
      phase: 'series',
      status: 'fail',
      durationMs: 6100,
      cached: false,
      duplicates: {
        new: [
          {
            key: 'p2m.c#do_lock.isra.0',
            addresses: ['ffff82d0402a0000', 'ffff82d0402b0000'],
            objects: ['arch/x86/mm/p2m.o'],
            status: 'new',
          },
        ],
        preexisting: [{ key: 'cpu_callback', addresses: ['1', '2'], objects: [], status: 'preexisting' }],
      },
      fileCollisions: [{ file: 'entry.S', objects: ['a.o', 'b.o'], status: 'new' }],
      errors: [],
      botError: null,
      logPath: null,
    },
  ],
  verdict: 'fail',
  summary: 'fail: 1 new duplicate symbol under gcc-12',
  startedAt: '2026-11-20T10:00:00.000Z',
  finishedAt: '2026-11-20T10:02:00.000Z',
};

test('a local check is recorded with its builds and every finding, searchable by symbol', () => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-record-'));
  try {
    const db = openDb(join(dir, 'listci.db'));
    const runId = recordCheckResult(db, { result, origin: 'check' });
    const run = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as Record<string, unknown>;
    assert.equal(run.state, 'done');
    assert.equal(run.verdict, 'fail');
    assert.equal(run.version_id, null);
    assert.equal(run.base_reason, 'explicit --range base');
    assert.equal(run.finished_at, result.finishedAt);
    assert.deepEqual(JSON.parse(run.result_json as string), result);
    const f = db
      .prepare('SELECT kind, status, symbol, file FROM findings WHERE run_id = ? ORDER BY id')
      .all(runId) as { kind: string; status: string; symbol: string | null; file: string | null }[];
    assert.deepEqual(f, [
      { kind: 'duplicate-symbol', status: 'new', symbol: 'p2m.c#do_lock.isra.0', file: null },
      { kind: 'duplicate-symbol', status: 'preexisting', symbol: 'cpu_callback', file: null },
      { kind: 'file-collision', status: 'new', symbol: null, file: 'entry.S' },
    ]);

    // The daemon queues a run first, then completes it; a retry does not double the findings.
    const queued = Number(
      db
        .prepare(`INSERT INTO runs (origin, state, queued_at) VALUES ('mail', 'queued', ?)`)
        .run('2026-11-20T09:59:00Z').lastInsertRowid,
    );
    recordCheckResult(db, {
      result,
      origin: 'mail',
      runId: queued,
      timestamps: { replySentAt: '2026-11-20T10:03:00Z' },
    });
    recordCheckResult(db, { result, origin: 'mail', runId: queued });
    const again = db.prepare('SELECT state, queued_at, reply_sent_at FROM runs WHERE id = ?').get(queued);
    assert.deepEqual(again, {
      state: 'done',
      queued_at: '2026-11-20T09:59:00Z',
      reply_sent_at: '2026-11-20T10:03:00Z',
    });
    assert.equal(
      (db.prepare('SELECT count(*) AS n FROM findings WHERE run_id = ?').get(queued) as { n: number }).n,
      3,
    );
    assert.equal(
      (db.prepare('SELECT count(*) AS n FROM builds WHERE run_id = ?').get(queued) as { n: number }).n,
      1,
    );
    assert.throws(
      () => recordCheckResult(db, { result, origin: 'mail', runId: 4242 }),
      /run 4242 does not exist/,
    );
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
