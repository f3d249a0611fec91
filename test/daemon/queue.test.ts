import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
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
} from '../../src/db/jobs.ts';
import { tempDir } from '../helpers/cli.ts';

function freshDb() {
  return openDb(join(tempDir(), 'q.db'));
}

test('the same work enqueued twice is one job', () => {
  const db = freshDb();
  const a = enqueue(db, 'check', 7);
  const b = enqueue(db, 'check', 7);
  assert.equal(a, b);
  assert.deepEqual(queueDepth(db), { check: 1 });
});

/** One thread, one connection: waits for the start signal, then claims until the queue is empty. */
function claimer(path: string, start: SharedArrayBuffer): Promise<number[]> {
  // A worker does not inherit tsx's loader (Node 20): it loads the TypeScript file through tsx's API.
  const tsx = import.meta.resolve('tsx/esm/api');
  const file = new URL('./claim-worker.ts', import.meta.url).href;
  const worker = new Worker(
    `import(${JSON.stringify(tsx)}).then((t) => t.tsImport(${JSON.stringify(file)}, ${JSON.stringify(file)}))`,
    { eval: true, workerData: { path, start } },
  );
  return new Promise((resolve, reject) => {
    worker.once('message', (claimed: number[]) => resolve(claimed));
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`claim worker exited with ${code}`)));
  });
}

test('connections in four threads claiming at once never get the same job', async () => {
  const path = join(tempDir(), 'q.db');
  const db = openDb(path);
  const JOBS = 2000;
  db.transaction(() => {
    for (let i = 1; i <= JOBS; i++) enqueue(db, 'check', i);
  })();
  // The threads start claiming together, so their claims interleave from the first one.
  const start = new SharedArrayBuffer(4);
  const racing = [1, 2, 3, 4].map(() => claimer(path, start));
  await new Promise((r) => setTimeout(r, 500)); // every thread has its connection open
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const perThread = await Promise.all(racing);
  const seen = perThread.flat();
  const twice = seen.filter((id, i) => seen.indexOf(id) !== i);
  assert.deepEqual([...new Set(twice)].slice(0, 10), [], `${twice.length} claims of a job already claimed`);
  assert.equal(seen.length, JOBS);
  assert.ok(
    perThread.filter((c) => c.length > 0).length >= 2,
    'the claims did race: more than one thread won some',
  );
  db.close();
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
  assert.deepEqual(queueDepth(db), { check: 0 });
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
  enqueue(db, 'check', 3);
  const first = claim(db, ['check'])!;
  fail(db, first.id, 'smtp refused', { maxAttempts: 2, baseDelayMs: 60_000 });
  assert.equal(claim(db, ['check']), null, 'not before the backoff');
  const later = new Date(Date.now() + 61_000);
  const second = claim(db, ['check'], later)!;
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
