// The run's life: each transition moves the run and its check job together, or neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDb, type Database } from '../../src/db/open.ts';
import { checkJobOf } from '../../src/db/jobs.ts';
import {
  errorRun,
  finishRun,
  queueRun,
  requeueRun,
  retryRun,
  runById,
  startNextRun,
  supersedeRun,
} from '../../src/db/runs.ts';
import { insertSeries } from '../../src/db/series.ts';
import { insertVersion } from '../../src/db/versions.ts';
import type { CheckResult } from '../../src/contract.ts';

const T = '2026-11-20T10:00:00.000Z';

function queued(): { db: Database; runId: number } {
  const db = openDb(':memory:');
  const seriesId = insertSeries(db, {
    list: 'xen-devel',
    title: 'x86: a fix',
    authorName: null,
    authorAddr: 'a@example.org',
    relatedTo: null,
    now: T,
  });
  const versionId = insertVersion(db, {
    seriesId,
    version: 1,
    total: 1,
    resend: false,
    subject: '[PATCH] x86: a fix',
    headMessageId: 'p1@example.org',
    tags: [],
    firstSeenAt: T,
  });
  const runId = queueRun(db, {
    versionId,
    mailReceivedAt: T,
    seriesCompleteAt: T,
    runAfter: new Date(T),
  });
  return { db, runId };
}

const states = (db: Database, runId: number) => ({
  run: runById(db, runId)?.state,
  job: checkJobOf(db, runId)?.state,
});

function result(verdict: CheckResult['verdict']): CheckResult {
  return {
    listciVersion: '0.1.0',
    series: {
      title: 'x86: a fix',
      version: 1,
      author: 'a@example.org',
      messageId: null,
      patches: [],
      complete: true,
      missing: [],
    },
    base: null,
    apply: null,
    builds: [],
    verdict,
    summary: verdict,
    startedAt: T,
    finishedAt: T,
  } as CheckResult;
}

/** Every UPDATE of runs fails from now on: the moment a crash would fall between two writes. */
function breakRunWrites(db: Database): void {
  db.exec(`CREATE TRIGGER no_run_writes BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'crash'); END`);
}

test('a run is queued with its job, started with it and finished with it', () => {
  const { db, runId } = queued();
  assert.deepEqual(states(db, runId), { run: 'queued', job: 'queued' });
  const job = startNextRun(db, new Date(T));
  assert.equal(job?.ref_id, runId);
  assert.deepEqual(states(db, runId), { run: 'running', job: 'running' });
  assert.ok(runById(db, runId)?.started_at);
  finishRun(db, { result: result('pass'), runId, origin: 'mail' });
  assert.deepEqual(states(db, runId), { run: 'done', job: 'done' });
});

test('a stopped check goes back to the queue, its attempt uncounted; a failed one counts', () => {
  const { db, runId } = queued();
  requeueRun(db, startNextRun(db, new Date(T))!);
  assert.deepEqual(states(db, runId), { run: 'queued', job: 'queued' });
  assert.equal(checkJobOf(db, runId)?.attempts, 0);
  const job = startNextRun(db, new Date(T))!;
  assert.equal(retryRun(db, job, 'git fetch failed', { maxAttempts: 2 }), true);
  assert.deepEqual(states(db, runId), { run: 'queued', job: 'queued' });
  const last = startNextRun(db, new Date(Date.now() + 3600_000))!;
  assert.equal(last.attempts, 2);
  assert.equal(
    retryRun(db, last, 'git fetch failed', { maxAttempts: 2 }),
    false,
    'the last attempt is not retried',
  );
  assert.deepEqual(states(db, runId), { run: 'running', job: 'running' }, 'nothing moved: errorRun follows');
});

test("listci's error fails the job and records the run in one transaction", () => {
  const { db, runId } = queued();
  startNextRun(db, new Date(T));
  errorRun(db, { result: result('error'), runId, origin: 'mail' }, 'git fetch failed');
  assert.deepEqual(states(db, runId), { run: 'done', job: 'failed' });
  assert.equal(runById(db, runId)?.verdict, 'error');
  assert.equal(checkJobOf(db, runId)?.last_error, 'git fetch failed');
});

test('a crash while the error is recorded leaves the job running, to be recovered at the next start', () => {
  const { db, runId } = queued();
  startNextRun(db, new Date(T));
  breakRunWrites(db);
  assert.throws(() => errorRun(db, { result: result('error'), runId, origin: 'mail' }, 'boom'), /crash/);
  assert.deepEqual(states(db, runId), { run: 'running', job: 'running' });
});

test('a superseded run is cancelled with its job, or not at all', () => {
  const { db, runId } = queued();
  assert.equal(supersedeRun(db, runId), true);
  assert.deepEqual(states(db, runId), { run: 'cancelled', job: 'cancelled' });
  assert.equal(runById(db, runId)?.summary, 'superseded by a newer version');

  const other = queued();
  breakRunWrites(other.db);
  assert.throws(() => supersedeRun(other.db, other.runId), /crash/);
  assert.deepEqual(
    states(other.db, other.runId),
    { run: 'queued', job: 'queued' },
    'the job is still there to run',
  );
});

test('a running check is not superseded under its worker', () => {
  const { db, runId } = queued();
  startNextRun(db, new Date(T));
  assert.equal(supersedeRun(db, runId), false);
  assert.deepEqual(states(db, runId), { run: 'running', job: 'running' });
});
