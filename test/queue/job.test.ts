// What travels through Redis between the daemon and a worker, checked as each side reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.ts';
import type { Config } from '../../src/config/load.ts';
import {
  buildRulesOf,
  jobIdFor,
  makePayload,
  parsePayload,
  parseResult,
  patchesOf,
  queueName,
  type BuildJobPayload,
} from '../../src/queue/job.ts';
import { AWKWARD_MAIL, BASE, result, series, toolchain } from './fixtures.ts';

function config(over: Record<string, unknown> = {}): Config {
  return { ...configSchema.parse(over), source: 'test', baseDir: '/' };
}

function payload(over: Partial<Parameters<typeof makePayload>[0]> = {}): BuildJobPayload {
  const prerequisite = {
    number: 1,
    total: 1,
    subject: 'base series',
    messageId: 'pre@x',
    raw: Buffer.from('pre\r\n'),
    mangled: null,
  };
  return makePayload({
    runId: 7,
    attempt: 1,
    repoUrl: 'https://xenbits.xen.org/git-http/xen.git',
    decision: { choice: BASE, prerequisites: [prerequisite] },
    series: series(),
    toolchain: toolchain('gcc-12', { image: 'localhost/listci/gcc-12' }),
    rules: buildRulesOf(config()),
    ...over,
  });
}

/** As Redis hands it back: BullMQ stores job data as JSON. */
const throughRedis = <T>(v: T): unknown => JSON.parse(JSON.stringify(v));

test('the mails reach the worker byte for byte, prerequisites first-class too', () => {
  const p = parsePayload(throughRedis(payload()));
  const mails = patchesOf(p);
  assert.deepEqual(mails.series[0]!.raw, AWKWARD_MAIL);
  assert.equal(mails.series[1]!.raw.toString(), 'second\n');
  assert.equal(mails.series[1]!.mangled, 'format=flowed');
  assert.equal(mails.series[1]!.messageId, null);
  assert.deepEqual(
    mails.prerequisites.map((m) => m.raw.toString()),
    ['pre\r\n'],
  );
  assert.deepEqual(p.base, BASE);
  assert.equal(p.toolchain.image, 'localhost/listci/gcc-12');
  assert.deepEqual(p.build.recipe.configFragment, ['CONFIG_LIVEPATCH=y', 'CONFIG_ENFORCE_UNIQUE_SYMBOLS=y']);
});

test("the job carries the daemon's rules, not the host's limits", () => {
  const p = payload({
    rules: buildRulesOf(config({ build: { perPatch: true, timeoutMinutes: 45, memoryMb: 999 } })),
  });
  assert.equal(p.build.perPatch, true);
  assert.equal(p.build.timeoutMinutes, 45);
  assert.equal('memoryMb' in p.build, false, 'memory is the worker config’s to say');
  assert.equal(p.build.gitTimeoutSeconds, 300);
});

test('a malformed job is refused, naming the field', () => {
  const good = throughRedis(payload()) as Record<string, unknown> & {
    series: { patches: { raw: string }[] };
  };
  assert.throws(() => parsePayload({ ...good, v: 2 }), /malformed build job: v:/);
  assert.throws(
    () => parsePayload({ ...good, base: { ...BASE, commit: 'staging' } }),
    /base\.commit: a full commit id/,
  );
  const badRaw = structuredClone(good);
  badRaw.series.patches[0]!.raw = 'not base64!';
  assert.throws(() => parsePayload(badRaw), /series\.patches\.0\.raw: base64/);
  const noPatches = structuredClone(good);
  noPatches.series.patches = [];
  assert.throws(() => parsePayload(noPatches), /series\.patches/);
  assert.throws(() => parsePayload(null), /malformed build job/);
});

test('the job id is the same for the same run, attempt and inputs, and another for anything else', () => {
  const p = payload();
  const id = jobIdFor(p, '2026-01-01T10:00:00.000Z');
  assert.match(id, /^run-7-a1-gcc-12-[0-9a-f]{12}$/);
  assert.doesNotMatch(id, /:/, 'BullMQ refuses ids with a colon');
  assert.equal(jobIdFor(payload(), '2026-01-01T10:00:00.000Z'), id, 're-added after a restart: the same job');
  assert.notEqual(jobIdFor(p, '2026-02-02T10:00:00.000Z'), id, 'run 7 of another database');
  assert.notEqual(jobIdFor(payload({ attempt: 2 }), '2026-01-01T10:00:00.000Z'), id);
  const moved = payload({ decision: { choice: { ...BASE, commit: 'b'.repeat(40) }, prerequisites: [] } });
  assert.notEqual(jobIdFor(moved, '2026-01-01T10:00:00.000Z'), id, 'the mirror moved between two tries');
  assert.notEqual(
    jobIdFor(payload({ toolchain: toolchain('gcc-12', { makeArgs: ['V=1'] }) }), '2026-01-01T10:00:00.000Z'),
    id,
  );
  assert.equal(queueName('gcc-12'), 'build-gcc-12');
});

test("a worker's result survives Redis, logs and all, and a damaged one is refused", () => {
  const r = result('clang-14');
  const back = parseResult(throughRedis(r));
  assert.deepEqual(back, r);
  assert.equal(Buffer.from(back.logs[0]!.data, 'base64').toString(), 'log of baseline-clang-14.log\n');
  const damaged = throughRedis(r) as { builds: { status: string }[] };
  damaged.builds[1]!.status = 'exploded';
  assert.throws(() => parseResult(damaged), /malformed build result: builds\.1\.status/);
  assert.throws(() => parseResult(undefined), /malformed build result/);
});
