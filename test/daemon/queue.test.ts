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
  assert.equal(recoverInterrupted(db), 1);
  const again = claim(db, ['check']);
  assert.equal(again?.id, job.id);
  assert.equal(again?.attempts, 2);
  complete(db, again!.id);
  assert.equal(claim(db, ['check']), null);
  assert.deepEqual(queueDepth(db), { check: 0, reply: 0 });
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
