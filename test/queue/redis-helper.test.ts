import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { skipUnlessCi } from '../helpers/prerequisite.ts';
import { redisMissing, startRedis } from '../helpers/redis.ts';

// The queue's tests stop and restart Redis under a running daemon and its workers ("Redis
// stopped and restarted while mail arrives"). That only means something if the restarted
// server is the same one at the same address, and if it forgets or keeps its data exactly
// as the test asked.

const skip = skipUnlessCi(redisMissing());

test('a Redis without persistence comes back on the same port, empty', { skip }, async () => {
  const redis = await startRedis();
  try {
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await redis.cli('PING'), 'PONG');
    assert.equal(await redis.cli('SET', 'series:1', 'queued'), 'OK');
    assert.equal(await redis.cli('GET', 'series:1'), 'queued');
    const before = redis.pid();

    await redis.restart();

    assert.notEqual(redis.pid(), before, 'a restart is a new process');
    assert.equal(await redis.cli('PING'), 'PONG');
    assert.equal(await redis.cli('GET', 'series:1'), '', 'the key did not survive the restart');
    assert.equal(await redis.cli('DBSIZE'), '0');
    assert.match(readFileSync(redis.logFile, 'utf8'), /Ready to accept connections/);
  } finally {
    await redis.stop();
  }
});

test('a persistent Redis keeps its keys across a restart and a kill -9', { skip }, async () => {
  const redis = await startRedis({ persist: true });
  try {
    const port = redis.port;
    await redis.cli('SET', 'series:1', 'queued');
    await redis.restart();
    assert.equal(redis.port, port);
    assert.equal(await redis.cli('GET', 'series:1'), 'queued', 'kept across SIGTERM and start');

    // appendfsync always: a write Redis acknowledged is on disk before the kill.
    await redis.cli('SET', 'series:2', 'building');
    await redis.kill9();
    assert.equal(redis.pid(), null);
    await assert.rejects(redis.cli('PING'), 'nothing answers while it is down');
    await redis.restart();
    assert.equal(await redis.cli('GET', 'series:1'), 'queued');
    assert.equal(await redis.cli('GET', 'series:2'), 'building', 'kept across kill -9');
  } finally {
    await redis.stop();
  }
});
