import { z } from 'zod';
import { keys, type RedisClient } from './redis.ts';

// A worker announces itself in Redis every few seconds: what it builds, with which images,
// how many jobs it did, what it is on now. The hash expires after three missed beats, so a
// worker killed with -9 disappears by itself; the index keeps its name and last beat, so the
// daemon can still say it was there and when it was last heard from.

export const WORKER_STATES = ['idle', 'busy', 'stopping', 'stopped'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export interface Heartbeat {
  name: string;
  host: string;
  pid: number;
  /** The toolchains whose queues it listens on now. */
  toolchains: string[];
  /** Toolchain → the image (or, for the local runner, the compiler) it found for it. */
  images: Record<string, string>;
  /** Toolchains it offers but does not build, and why (an image missing at start or at a build). */
  missing: Record<string, string>;
  startedAt: string;
  lastHeartbeat: string;
  jobsDone: number;
  jobsFailed: number;
  /** Job ids it is building now. */
  current: string[];
  state: WorkerState;
  concurrency: number;
  listciVersion: string;
}

const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((s, ctx) => {
    try {
      return schema.parse(JSON.parse(s)) as z.infer<T>;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not the JSON it should be' });
      return z.NEVER;
    }
  });
const count = z.coerce.number().int().nonnegative();

/** The hash as Redis returns it: every field a string. */
const stored = z.object({
  name: z.string(),
  host: z.string(),
  pid: count,
  toolchains: json(z.array(z.string())),
  images: json(z.record(z.string(), z.string())),
  missing: json(z.record(z.string(), z.string())),
  startedAt: z.string(),
  lastHeartbeat: z.string(),
  jobsDone: count,
  jobsFailed: count,
  current: json(z.array(z.string())),
  state: z.enum(WORKER_STATES),
  concurrency: count,
  listciVersion: z.string(),
});

export async function writeHeartbeat(
  redis: RedisClient,
  prefix: string,
  hb: Heartbeat,
  ttlMs: number,
): Promise<void> {
  const key = keys.worker(prefix, hb.name);
  const fields: Record<string, string> = {
    ...hb,
    pid: String(hb.pid),
    toolchains: JSON.stringify(hb.toolchains),
    images: JSON.stringify(hb.images),
    missing: JSON.stringify(hb.missing),
    jobsDone: String(hb.jobsDone),
    jobsFailed: String(hb.jobsFailed),
    current: JSON.stringify(hb.current),
    concurrency: String(hb.concurrency),
  };
  await redis
    .multi()
    .hset(key, fields)
    .pexpire(key, Math.round(ttlMs))
    .zadd(keys.workerIndex(prefix), Date.parse(hb.lastHeartbeat), hb.name)
    .exec();
}

/** A worker as the daemon sees it: its last heartbeat, or only when it was last heard from. */
export type SeenWorker = { name: string; heartbeat: Heartbeat | null; lastSeenMs: number };

/** Index entries older than this are dropped: a worker gone for a week is not coming back. */
const FORGET_MS = 7 * 86_400_000;

export async function readHeartbeats(redis: RedisClient, prefix: string): Promise<SeenWorker[]> {
  const index = keys.workerIndex(prefix);
  await redis.zremrangebyscore(index, '-inf', Date.now() - FORGET_MS);
  const flat = await redis.zrange(index, 0, -1, 'WITHSCORES');
  const seen: { name: string; lastSeenMs: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) seen.push({ name: flat[i]!, lastSeenMs: Number(flat[i + 1]) });
  if (seen.length === 0) return [];
  const pipe = redis.pipeline();
  for (const w of seen) pipe.hgetall(keys.worker(prefix, w.name));
  const hashes = (await pipe.exec()) ?? [];
  return seen.map((w, i) => {
    const [err, value] = hashes[i] ?? [null, null];
    const parsed = !err && value && Object.keys(value).length ? stored.safeParse(value) : null;
    return { ...w, heartbeat: parsed?.success ? parsed.data : null };
  });
}
