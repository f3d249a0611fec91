// The queue section of the daemon's config and worker.yaml: a mistake names its key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseConfig, queuePassword } from '../../src/config/load.ts';
import { loadWorkerConfig, parseWorkerConfig } from '../../src/config/worker.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const ctx = { source: 'worker.yaml', baseDir: '/etc/listci' };
const queue = { type: 'redis', url: 'redis://127.0.0.1:6379' };

function workerError(data: unknown): string {
  try {
    parseWorkerConfig(data, ctx);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail('expected a ConfigError');
}

test('a worker.yaml with only the essentials gets the defaults', () => {
  const w = parseWorkerConfig(
    { queue, toolchains: ['gcc-12', { name: 'clang-14', image: 'localhost/clang:14' }] },
    ctx,
  );
  assert.equal(w.workDir, '/etc/listci/var/worker');
  assert.match(w.name, /^[A-Za-z0-9._-]+-\d+$/, 'hostname-pid');
  assert.equal(w.concurrency, 1);
  assert.equal(w.build.runner, 'podman');
  assert.equal(w.build.makeJobs, 2);
  assert.deepEqual(w.queue, {
    ...queue,
    password: null,
    prefix: 'listci',
    maxInFlight: 4,
    lockSeconds: 60,
    stalledSeconds: 30,
    maxStalledCount: 2,
    attempts: 3,
  });
  assert.deepEqual(w.toolchains, [
    { name: 'gcc-12', image: null, cc: null, hostcc: null },
    { name: 'clang-14', image: 'localhost/clang:14', cc: null, hostcc: null },
  ]);
});

test('worker.yaml mistakes name the key and the problem', () => {
  assert.equal(
    workerError({ toolchains: ['gcc-12'] }),
    'config: worker.yaml: queue: expected object, but it is missing',
  );
  assert.match(
    workerError({ queue }),
    /^config: worker\.yaml: toolchains: expected array, but it is missing$/,
  );
  assert.match(workerError({ queue, toolchains: [] }), /toolchains: name at least one toolchain/);
  assert.equal(
    workerError({ queue, toolchains: [{ name: 'gcc-12', imag: 'x' }] }),
    'config: worker.yaml: toolchains.0.imag: unknown key',
  );
  assert.match(
    workerError({ queue, toolchains: [{ name: 'gcc-12', makeArgs: ['V=1'] }] }),
    /toolchains\.0\.makeArgs: unknown key/,
    "build flags are the daemon's to say",
  );
  assert.match(workerError({ queue, toolchains: ['gcc 12'] }), /toolchains\.0\.name: letters, digits/);
  assert.equal(
    workerError({ queue, toolchains: ['gcc-12', { name: 'gcc-12' }] }),
    'config: worker.yaml: toolchains.1: gcc-12 is listed twice',
  );
  assert.match(workerError({ queue, toolchains: ['x'], concurrency: 0 }), /concurrency: /);
  assert.match(
    workerError({ queue, toolchains: ['x'], name: 'a:b' }),
    /^config: worker\.yaml: name: letters/,
  );
  assert.match(workerError({ queue, toolchains: ['x'], build: { runner: 'lxc' } }), /build\.runner: /);
  assert.equal(
    workerError({ queue, toolchains: ['x'], build: { timeoutMinutes: 5 } }),
    'config: worker.yaml: build.timeoutMinutes: unknown key',
    'time limits come with the job',
  );
  assert.match(
    workerError({ queue: { ...queue, url: 'localhost:6379' }, toolchains: ['x'] }),
    /queue\.url: a redis:\/\//,
  );
  assert.match(
    workerError({ queue: { ...queue, url: 'redis://:hunter2@redis:6379' }, toolchains: ['x'] }),
    /queue\.url: no password in the URL: write queue\.password/,
  );
  assert.match(
    workerError({ queue: { ...queue, prefix: 'a:b' }, toolchains: ['x'] }),
    /queue\.prefix: letters/,
  );
  assert.match(workerError({ queue: { ...queue, type: 'sqs' }, toolchains: ['x'] }), /queue\.type: /);
  assert.match(
    workerError({ queue: { ...queue, lockSeconds: 0 }, toolchains: ['x'] }),
    /queue\.lockSeconds: /,
  );
});

test("the daemon's config: no queue is the embedded default; a queue section is checked the same way", () => {
  const embedded = parseConfig({}, ctx);
  assert.equal(embedded.queue, null);
  const withQueue = parseConfig({ queue: { ...queue, maxInFlight: 8, password: { env: 'REDIS_PW' } } }, ctx);
  assert.equal(withQueue.queue?.maxInFlight, 8);
  assert.equal(queuePassword(withQueue.queue!, ctx, { REDIS_PW: 's3cret' }), 's3cret');
  assert.throws(
    () => queuePassword(withQueue.queue!, ctx, {}),
    /queue\.password: environment variable REDIS_PW is not set/,
  );
  assert.throws(() => parseConfig({ queue: { ...queue, maxInFlight: 0 } }, ctx), /queue\.maxInFlight: /);
  assert.throws(() => parseConfig({ queue: { ...queue, port: 1 } }, ctx), /queue\.port: unknown key/);
});

test('the shipped worker.example.yaml is valid and says what its comments say', () => {
  const w = loadWorkerConfig(new URL('../../config/worker.example.yaml', import.meta.url).pathname);
  assert.equal(w.queue.prefix, 'listci');
  assert.equal(w.concurrency, 1);
  assert.deepEqual(
    w.toolchains.map((t) => [t.name, t.image]),
    [
      ['gcc-12', null],
      ['gcc-11', null],
      ['clang-14', 'localhost/listci/clang-14'],
    ],
  );
});

test('listci worker says what is wrong with its config and exits 2', () => {
  const dir = tempDir('listci-worker-config-');
  const file = join(dir, 'worker.yaml');
  writeFileSync(
    file,
    'queue: { type: redis, url: "redis://127.0.0.1:1" }\ntoolchains: [gcc-12]\nconcurency: 2\n',
  );
  assert.throws(() => loadWorkerConfig(file), /concurency: unknown key/);
  const r = runCli(['worker', '-c', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `listci: config: ${file}: concurency: unknown key`);
  const missing = runCli(['worker', '-c', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml: file not found/);
});
