// The queue's own ceiling, for docs/scaling.md: BullMQ on a real redis-server (the test
// helper's, on a free loopback port), jobs the size of a real build job (a series' mails as
// bytes), a processor that does nothing, so that what is timed is Redis and BullMQ alone.
//
//   add       Queue.add one job at a time, awaited (the daemon enqueues this way)
//   drain     W workers × C concurrency take every job and complete it with a small result;
//             the producer counts QueueEvents 'completed' (how the daemon learns results)
//   roundtrip one job at a time: add → a worker takes it → completed event back, in ms
//
// Each twice: Redis without persistence, and with AOF everysec (BullMQ's production advice).
// Usage: node --import tsx bench/bullmq-throughput.ts [jobs=2000] [payloadKB=32] [workers=2] [concurrency=4]
import { Queue, QueueEvents, Worker } from 'bullmq';
import { startRedis, type TestRedis } from '../test/helpers/redis.ts';

const JOBS = Number(process.argv[2] ?? 2000);
const PAYLOAD_KB = Number(process.argv[3] ?? 32);
const WORKERS = Number(process.argv[4] ?? 2);
const CONCURRENCY = Number(process.argv[5] ?? 4);
const ROUNDTRIPS = 200;

const mails = Buffer.alloc(PAYLOAD_KB * 1024, 'diff --git a/x b/x\n+line\n').toString('base64');
const result = { verdict: 'pass', log: 'x'.repeat(2048) };

async function measure(label: string, redis: TestRedis) {
  const connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
  const name = 'builds';
  const queue = new Queue(name, {
    connection,
    defaultJobOptions: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 }, attempts: 3 },
  });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  let completed = 0;
  let onCompleted: ((id: string) => void) | null = null;
  events.on('completed', ({ jobId }) => {
    completed++;
    onCompleted?.(jobId);
  });

  // add
  let t = performance.now();
  for (let i = 0; i < JOBS; i++)
    await queue.add('check', { runId: i, toolchain: 'gcc-12', base: 'a'.repeat(40), mails });
  const addSecs = (performance.now() - t) / 1000;
  const usedAfterAdd = await usedMemory(redis);

  // drain
  t = performance.now();
  const drained = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (completed >= JOBS) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  const workers = Array.from(
    { length: WORKERS },
    () => new Worker(name, async () => result, { connection, concurrency: CONCURRENCY }),
  );
  await drained;
  const drainSecs = (performance.now() - t) / 1000;

  // roundtrip
  const rtt: number[] = [];
  for (let i = 0; i < ROUNDTRIPS; i++) {
    const start = performance.now();
    const done = new Promise<void>((resolve) => {
      let id: string | undefined;
      onCompleted = (jobId) => {
        if (jobId === id) resolve();
      };
      void queue.add('check', { runId: JOBS + i, toolchain: 'gcc-12', mails }).then((j) => (id = j.id));
    });
    await done;
    rtt.push(performance.now() - start);
  }
  onCompleted = null;
  rtt.sort((a, b) => a - b);

  await Promise.all(workers.map((w) => w.close()));
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    redis: label,
    jobs: JOBS,
    payloadKB: PAYLOAD_KB,
    workers: `${WORKERS} x concurrency ${CONCURRENCY}`,
    addsPerSecond: Math.round(JOBS / addSecs),
    completedPerSecond: Math.round(JOBS / drainSecs),
    roundtripMs: {
      median: +rtt[Math.floor(rtt.length / 2)]!.toFixed(2),
      p95: +rtt[Math.floor(rtt.length * 0.95)]!.toFixed(2),
    },
    redisMBWithAllJobsWaiting: +(usedAfterAdd / 1048576).toFixed(1),
  };
}

async function usedMemory(redis: TestRedis): Promise<number> {
  const info = await redis.cli('INFO', 'memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

const out = [];
for (const [label, config] of [
  ['no persistence', []],
  ['AOF everysec', ['appendonly yes', 'appendfsync everysec']],
] as const) {
  const redis = await startRedis({ config: [...config] });
  try {
    out.push(await measure(label, redis));
  } finally {
    await redis.stop();
  }
}
console.log(
  JSON.stringify(
    { bullmq: (await import('bullmq/package.json', { with: { type: 'json' } })).default.version, runs: out },
    null,
    2,
  ),
);
