import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../src/db/open.ts';
import {
  cancel,
  claim,
  complete,
  enqueue,
  fail,
  failedUnrecorded,
  queueDepth,
  recoverInterrupted,
} from '../../src/daemon/queue.ts';
import { tempDir } from '../helpers/cli.ts';

function freshDb() {
  return openDb(join(tempDir(), 'q.db'));
}

test('the same work enqueued twice is one job', () => {
  const db = freshDb();
  const a = enqueue(db, 'check', 7);
  const b = enqueue(db, 'check', 7);
  assert.equal(a, b);
  assert.deepEqual(queueDepth(db), { check: 1, reply: 0 });
});

test('two connections claiming at once never get the same job', () => {
  const dir = tempDir();
  const one = openDb(join(dir, 'q.db'));
  const two = openDb(join(dir, 'q.db'));
  for (let i = 1; i <= 20; i++) enqueue(one, 'check', i);
  const seen: number[] = [];
  for (;;) {
    const a = claim(one, ['check']);
    const b = claim(two, ['check']);
    if (a) seen.push(a.ref_id);
    if (b) seen.push(b.ref_id);
    if (!a && !b) break;
  }
  assert.equal(seen.length, 20);
  assert.equal(new Set(seen).size, 20);
});

test('a job interrupted by a crash is resumed after restart, not lost and not doubled', () => {
  const dir = tempDir();
  let db = openDb(join(dir, 'q.db'));
  enqueue(db, 'check', 1);
  const job = claim(db, ['check']);
  assert.ok(job);
  db.close(); // the daemon dies here, job still 'running'

  db = openDb(join(dir, 'q.db'));
  assert.equal(claim(db, ['check']), null, 'a running job is not handed out twice');
  assert.deepEqual(recoverInterrupted(db), { resumed: 1, failed: 0 });
  const again = claim(db, ['check']);
  assert.equal(again?.id, job.id);
  assert.equal(again?.attempts, 2);
  complete(db, again!.id);
  assert.equal(claim(db, ['check']), null);
  assert.deepEqual(queueDepth(db), { check: 0, reply: 0 });
});

test('a job that crashed the daemon at every attempt is failed at start-up, and its run is owed a record', () => {
  const dir = tempDir();
  let db = openDb(join(dir, 'q.db'));
  const run = (state: string) =>
    Number(
      db.prepare(`INSERT INTO runs (state, queued_at) VALUES (?, ?)`).run(state, new Date().toISOString())
        .lastInsertRowid,
    );
  const crashing = run('running');
  const other = run('running');
  enqueue(db, 'check', crashing);
  enqueue(db, 'check', other);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const job = claim(db, ['check'])!;
    assert.equal(job.ref_id, crashing);
    assert.equal(job.attempts, attempt);
    db.close(); // the daemon dies during the check, every time
    db = openDb(join(dir, 'q.db'));
    assert.deepEqual(
      recoverInterrupted(db, { maxAttempts: 3 }),
      attempt < 3 ? { resumed: 1, failed: 0 } : { resumed: 0, failed: 1 },
    );
  }
  const row = db.prepare(`SELECT state, attempts, last_error FROM jobs WHERE ref_id = ?`).get(crashing);
  assert.deepEqual(row, {
    state: 'failed',
    attempts: 3,
    last_error: 'interrupted by a crash 3 times (the daemon stopped during the check each time)',
  });
  const next = claim(db, ['check'])!;
  assert.equal(next.ref_id, other, 'the queue goes on with the next job');
  assert.deepEqual(failedUnrecorded(db), [
    {
      runId: crashing,
      error: 'interrupted by a crash 3 times (the daemon stopped during the check each time)',
    },
  ]);
  // Once listci's error is recorded (the run done), a later start owes it nothing.
  db.prepare(`UPDATE runs SET state = 'done' WHERE id = ?`).run(crashing);
  assert.deepEqual(failedUnrecorded(db), []);
  // Failed at its last attempt in the daemon's loop, then a crash before the record: owed one too.
  fail(db, next.id, 'git fetch failed', { maxAttempts: 1 });
  assert.deepEqual(failedUnrecorded(db), [{ runId: other, error: 'git fetch failed' }]);
});

test('a failing job is retried with backoff, then marked failed', () => {
  const db = freshDb();
  enqueue(db, 'reply', 3);
  const first = claim(db, ['reply'])!;
  fail(db, first.id, 'smtp refused', { maxAttempts: 2, baseDelayMs: 60_000 });
  assert.equal(claim(db, ['reply']), null, 'not before the backoff');
  const later = new Date(Date.now() + 61_000);
  const second = claim(db, ['reply'], later)!;
  assert.equal(second.attempts, 2);
  fail(db, second.id, 'smtp refused again', { maxAttempts: 2 });
  const row = db.prepare('SELECT state, last_error FROM jobs WHERE id = ?').get(second.id);
  assert.deepEqual(row, { state: 'failed', last_error: 'smtp refused again' });
});

test('pending work of a superseded version is cancelled', () => {
  const db = freshDb();
  enqueue(db, 'check', 5);
  assert.equal(cancel(db, 'check', 5), true);
  assert.equal(claim(db, ['check']), null);
});
