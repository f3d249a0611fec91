// The embedded default (the demo, `listci check`) never loads BullMQ or its Redis driver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;

test('the CLI and the daemon load neither bullmq nor ioredis until a queue is configured', () => {
  const script = `
    import { createRequire } from 'node:module';
    await import('./src/cli.ts');
    await import('./src/daemon/daemon.ts');
    await import('./src/commands/worker.ts');
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const loaded = (name) => cache.some((p) => p.includes('/node_modules/' + name + '/'));
    console.log(JSON.stringify({ bullmq: loaded('bullmq'), ioredis: loaded('ioredis') }));
    await import('./src/queue/redis.ts').then((m) => m.loadBullmq());
    console.log(JSON.stringify({ bullmq: Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('/node_modules/bullmq/')) }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const [before, after] = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, boolean>);
  assert.deepEqual(before, { bullmq: false, ioredis: false });
  assert.deepEqual(after, { bullmq: true }, 'the check above would see it once loaded');
});
