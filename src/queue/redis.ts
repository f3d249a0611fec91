import type { ConnectionOptions } from 'bullmq';
import type { QueueConfig } from '../config/schema.ts';

// BullMQ and its Redis driver, loaded only when a config has `queue: { type: redis }`: the
// embedded default (the demo, `listci check`) never loads either.
//
// Versions, as checked for issue 17 (bullmq 6.7.0, ioredis 5.11.1):
// - bullmq's engines say node >= 14.18, so Node 20 is fine; ioredis 5 says node >= 12.22.
//   ioredis is an optional peer of bullmq 6 (it also takes node-redis or a Postgres backend), so
//   it is a dependency of ours; 5.x is the line bullmq's own tests run on (ioredis 6 wants Node 22
//   features nowhere, but is not what bullmq is tested with).
// - bullmq refuses Redis below 5.0.0 and warns below 6.2.0 (RedisConnection.minimumVersion and
//   recommendedMinimumVersion); a 1 ms blocking timeout needs 7.0.8. Debian 12's redis-server
//   7.0.15, which the tests use, is above all three.
// - bullmq's package has no "exports" map, so Node's import() loads its CommonJS build, where
//   it can require('ioredis') itself from the connection options we give it.
// - Redis must keep every key (maxmemory-policy noeviction); a Redis restarted without
//   persistence forgets the queued jobs, which the daemon then adds again (remote-check.ts).

export type Bull = typeof import('bullmq');
export type RedisClient = import('ioredis').Redis;

let bull: Promise<Bull> | null = null;
export function loadBullmq(): Promise<Bull> {
  return (bull ??= import('bullmq'));
}

/** What a queue section and its password say about reaching Redis. */
export interface RedisTarget {
  queue: QueueConfig;
  password: string | null;
}

function target(t: RedisTarget): { url?: string; path?: string; password?: string } {
  const where = t.queue.url.startsWith('/') ? { path: t.queue.url } : { url: t.queue.url };
  return t.password ? { ...where, password: t.password } : where;
}

/**
 * The daemon's connections. No offline queue: while Redis is down a command fails at once
 * instead of piling up, and the daemon's own backoff decides when to try again (it keeps
 * ingesting mail meanwhile).
 */
export function producerConnection(t: RedisTarget): ConnectionOptions {
  return { ...target(t), enableOfflineQueue: false, maxRetriesPerRequest: 1 };
}

/**
 * A worker's connections. BullMQ requires maxRetriesPerRequest null on them (a blocking wait
 * for the next job must outlive a reconnect), and keeps retrying to connect on its own.
 */
export function workerConnection(t: RedisTarget): ConnectionOptions {
  return { ...target(t), maxRetriesPerRequest: null };
}

/** A plain client for listci's own keys (heartbeats), configured like the worker's. */
export async function plainClient(t: RedisTarget, opts: { offlineQueue: boolean }): Promise<RedisClient> {
  const { Redis } = await import('ioredis');
  const where = target(t);
  const common = {
    ...(where.password ? { password: where.password } : {}),
    enableOfflineQueue: opts.offlineQueue,
    maxRetriesPerRequest: opts.offlineQueue ? null : 1,
    // Reconnect forever, at most every 5 s: a Redis restart must not end the process.
    retryStrategy: (times: number) => Math.min(250 * times, 5000),
  };
  const client = where.path ? new Redis(where.path, common) : new Redis(where.url!, common);
  // Without a listener, ioredis prints every failed reconnect to stderr; the callers log.
  client.on('error', () => undefined);
  return client;
}

/** Redis keys listci owns besides BullMQ's (which are <prefix>:<queue>:…). */
export const keys = {
  /** The hash of one worker's heartbeat; it expires when the worker stops beating. */
  worker: (prefix: string, name: string) => `${prefix}:workers:${name}`,
  /** Every worker that ever beat, by its last heartbeat (ms): where the daemon finds them. */
  workerIndex: (prefix: string) => `${prefix}:workers`,
};

/** The operation, or an error if Redis has not answered in `ms`: a half-open socket hangs. */
export async function withTimeout<T>(what: string, ms: number, op: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      op(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer ${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
