// The build hosts as the daemon records them, and as `listci query workers`, /api/workers and
// /metrics read them back. No Redis: the heartbeats go through a stand-in for its few commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { recordQueueCounts } from '../../src/db/build-queues.ts';
import { openDb } from '../../src/db/open.ts';
import { recordWorkers, type WorkerSeen } from '../../src/db/workers.ts';
import { readHeartbeats, writeHeartbeat, type Heartbeat } from '../../src/queue/heartbeat.ts';
import type { RedisClient } from '../../src/queue/redis.ts';
import { describeWorkersText, listWorkerViews } from '../../src/query/workers.ts';
import { metricsText } from '../../src/web/metrics.ts';
import { createWebApp } from '../../src/web/server.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

function seen(name: string, over: Partial<WorkerSeen> = {}): WorkerSeen {
  return {
    name,
    host: 'build1.example.org',
    pid: 4242,
    state: 'idle',
    toolchains: ['gcc-12', 'clang-14'],
    images: { 'gcc-12': 'listci/gcc-12', 'clang-14': 'listci/clang-14' },
    missing: {},
    currentJobs: [],
    jobsDone: 0,
    jobsFailed: 0,
    concurrency: 1,
    listciVersion: '0.1.0',
    startedAt: '2026-01-01T09:00:00.000Z',
    lastHeartbeat: '2026-01-01T10:00:00.000Z',
    ...over,
  };
}

function filledDb() {
  const dir = tempDir('listci-workers-');
  const path = join(dir, 'listci.db');
  const db = openDb(path);
  recordWorkers(db, [seen('w1'), seen('w2')], []);
  // The next refresh: w1 builds, w2 fell silent (killed with -9), w3 lacks an image.
  recordWorkers(
    db,
    [
      seen('w1', {
        state: 'busy',
        currentJobs: ['run-3-a1-gcc-12-abc'],
        jobsDone: 5,
        jobsFailed: 1,
        lastHeartbeat: '2026-01-01T10:00:05.000Z',
      }),
      seen('w3', {
        toolchains: ['gcc-12'],
        images: { 'gcc-12': 'listci/gcc-12' },
        missing: { 'clang-14': 'image listci/clang-14 not found (listci images build clang-14)' },
        lastHeartbeat: '2026-01-01T10:00:04.000Z',
      }),
    ],
    [{ name: 'w2', lastHeartbeat: '2026-01-01T10:00:01.000Z' }],
  );
  recordQueueCounts(db, [
    { toolchain: 'clang-14', waiting: 2, active: 0, delayed: 1, failed: 0, completed: 9 },
    { toolchain: 'gcc-12', waiting: 0, active: 1, delayed: 0, failed: 1, completed: 12 },
  ]);
  db.close();
  return { dir, path };
}

test('query workers reads what the daemon recorded: state, toolchains, last heartbeat, figures', () => {
  const { path } = filledDb();
  const db = openDb(path, { readonly: true });
  const view = listWorkerViews(db, new Date('2026-01-01T10:00:10.000Z'));
  db.close();
  assert.deepEqual(
    view.workers.map((w) => [
      w.name,
      w.state,
      w.toolchains.join(' '),
      w.heartbeatAgeSeconds,
      w.jobsDone,
      w.jobsFailed,
    ]),
    [
      ['w1', 'busy', 'gcc-12 clang-14', 5, 5, 1],
      ['w3', 'idle', 'gcc-12', 6, 0, 0],
      ['w2', 'gone', 'gcc-12 clang-14', 9, 0, 0],
    ],
  );
  assert.deepEqual(view.workers[0]!.currentJobs, ['run-3-a1-gcc-12-abc']);
  assert.deepEqual(view.workers[2]!.currentJobs, [], 'a gone worker builds nothing');
  assert.deepEqual(view.workers[1]!.missing, {
    'clang-14': 'image listci/clang-14 not found (listci images build clang-14)',
  });
  assert.deepEqual(
    view.queues.map((q) => [q.toolchain, q.waiting, q.active]),
    [
      ['clang-14', 2, 0],
      ['gcc-12', 0, 1],
    ],
  );
  const text = describeWorkersText(view);
  assert.match(text, /^NAME +STATE +TOOLCHAINS +LAST HEARTBEAT/);
  assert.match(text, /\nw3 +idle +gcc-12 !clang-14 +2026-01-01 10:00/);
  assert.match(text, /w3: not clang-14: image listci\/clang-14 not found/);
  assert.match(text, /\nclang-14 +2 +0 +1 +0 /);
});

test('listci query workers prints the table, or one JSON object with --json', () => {
  const { path } = filledDb();
  const r = runCli(['query', 'workers', '--db', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NAME/);
  assert.match(r.stdout, /\nw2 +gone /);
  const j = runCli(['query', 'workers', '--db', path, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const parsed = JSON.parse(j.stdout) as { workers: { name: string }[]; queues: unknown[] };
  assert.deepEqual(
    parsed.workers.map((w) => w.name),
    ['w1', 'w3', 'w2'],
  );
  assert.equal(parsed.queues.length, 2);
  const empty = tempDir('listci-workers-none-');
  openDb(join(empty, 'listci.db')).close();
  const none = runCli(['query', 'workers', '--db', join(empty, 'listci.db')]);
  assert.match(none.stdout, /no workers have been seen/);
});

test('a worker that stopped cleanly stays stopped, not gone, when its heartbeat expires', () => {
  const db = openDb(':memory:');
  recordWorkers(db, [seen('w1', { state: 'stopped' })], []);
  recordWorkers(db, [], [{ name: 'w1', lastHeartbeat: '2026-01-01T10:00:00.000Z' }]);
  assert.equal(listWorkerViews(db).workers[0]!.state, 'stopped');
  db.close();
});

test('/api/workers and /metrics serve the same records', async () => {
  const { dir, path } = filledDb();
  const db = openDb(path, { readonly: true });
  const app = createWebApp({ db, workDir: dir });
  try {
    const res = await app.inject({ method: 'GET', url: '/api/workers' });
    assert.equal(res.statusCode, 200);
    const body = res.json() as { workers: { name: string; state: string; heartbeatAgeSeconds: number }[] };
    assert.deepEqual(
      body.workers.map((w) => [w.name, w.state]),
      [
        ['w1', 'busy'],
        ['w3', 'idle'],
        ['w2', 'gone'],
      ],
    );
    assert.equal(typeof body.workers[0]!.heartbeatAgeSeconds, 'number');
    const m = metricsText(db);
    assert.match(m, /^listci_build_queue_jobs\{toolchain="clang-14",state="waiting"\} 2$/m);
    assert.match(m, /^listci_build_queue_jobs\{toolchain="gcc-12",state="failed"\} 1$/m);
    assert.match(m, /^listci_worker_jobs_total\{worker="w1",result="done"\} 5$/m);
    assert.match(m, /^listci_worker_jobs_total\{worker="w1",result="failed"\} 1$/m);
    assert.match(m, /^listci_worker_up\{worker="w2"\} 0$/m);
    assert.match(m, /^listci_worker_up\{worker="w1"\} 1$/m);
    assert.match(m, /^# TYPE listci_worker_jobs_total counter$/m);
  } finally {
    await app.close();
    db.close();
  }
});

/** The handful of Redis commands the heartbeats use, on a Map. */
function fakeRedis(): RedisClient {
  const hashes = new Map<string, Record<string, string>>();
  const zsets = new Map<string, Map<string, number>>();
  const zset = (k: string) => zsets.get(k) ?? zsets.set(k, new Map()).get(k)!;
  const fake = {
    multi() {
      const ops: (() => void)[] = [];
      const m = {
        hset: (k: string, f: Record<string, string>) => (ops.push(() => hashes.set(k, { ...f })), m),
        pexpire: () => m,
        zadd: (k: string, score: number, member: string) => (ops.push(() => zset(k).set(member, score)), m),
        exec: async () => ops.forEach((op) => op()),
      };
      return m;
    },
    async zremrangebyscore(k: string, _min: string, max: number) {
      for (const [m, s] of zset(k)) if (s <= max) zset(k).delete(m);
    },
    async zrange(k: string) {
      return [...zset(k)].sort((a, b) => a[1] - b[1]).flatMap(([m, s]) => [m, String(s)]);
    },
    pipeline() {
      const keys: string[] = [];
      const p = {
        hgetall: (k: string) => (keys.push(k), p),
        exec: async () => keys.map((k) => [null, hashes.get(k) ?? {}]),
      };
      return p;
    },
    expire: (k: string) => hashes.delete(k),
  };
  return fake as unknown as RedisClient;
}

test('a heartbeat read back is the one written; one whose hash expired is only a name and a time', async () => {
  const redis = fakeRedis();
  const hb: Heartbeat = {
    name: 'w1',
    host: 'build1',
    pid: 10,
    toolchains: ['gcc-12'],
    images: { 'gcc-12': 'listci/gcc-12' },
    missing: { 'clang-14': 'image listci/clang-14 not found' },
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    lastHeartbeat: new Date().toISOString(),
    jobsDone: 3,
    jobsFailed: 1,
    current: ['run-1-a1-gcc-12-0123456789ab'],
    state: 'busy',
    concurrency: 2,
    listciVersion: '0.1.0',
  };
  await writeHeartbeat(redis, 'listci', hb, 15_000);
  await writeHeartbeat(redis, 'listci', { ...hb, name: 'w2' }, 15_000);
  (redis as unknown as { expire(k: string): void }).expire('listci:workers:w2');
  const back = await readHeartbeats(redis, 'listci');
  assert.deepEqual(
    back.map((w) => w.name),
    ['w1', 'w2'],
  );
  assert.deepEqual(back[0]!.heartbeat, hb);
  assert.equal(back[1]!.heartbeat, null);
  assert.equal(back[1]!.lastSeenMs, Date.parse(hb.lastHeartbeat));
});
