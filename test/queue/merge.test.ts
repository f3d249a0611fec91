// The daemon's merge of per-toolchain job results into the one CheckResult a reply is made of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { writeLogs } from '../../src/queue/remote-check.ts';
import { buildWindowOf, mergeResults, type ToolchainOutcome } from '../../src/queue/merge.ts';
import { APPLIED, BASE, dup, report, result, series, toolchain } from './fixtures.ts';

const gcc = toolchain('gcc-12');
const clang = toolchain('clang-14');
const arm = toolchain('gcc-12-arm64', { makeArgs: ['XEN_TARGET_ARCH=arm64'] });

function merge(outcomes: ToolchainOutcome[], logPathOf?: (t: string, rel: string | null) => string | null) {
  return mergeResults({
    series: series(),
    startedAt: new Date('2026-01-01T09:59:00Z'),
    base: BASE,
    outcomes,
    logPathOf,
  });
}

test('results that arrive in any order come out in the embedded order: baselines, series builds, skipped, each in config order', () => {
  const r = merge([
    { toolchain: gcc, result: result('gcc-12') },
    { toolchain: clang, result: result('clang-14') },
    {
      toolchain: arm,
      result: result('gcc-12-arm64', {
        builds: [
          report('gcc-12-arm64', 'series', {
            status: 'skipped',
            skipped: 'touches only xen/arch/x86',
            logPath: null,
          }),
        ],
      }),
    },
  ]);
  assert.deepEqual(
    r.builds.map((b) => `${b.phase}:${b.toolchain}:${b.status}`),
    [
      'baseline:gcc-12:pass',
      'baseline:clang-14:pass',
      'series:gcc-12:pass',
      'series:clang-14:pass',
      'series:gcc-12-arm64:skipped',
    ],
  );
  assert.equal(r.verdict, 'pass');
  assert.equal(r.summary, 'pass: no new duplicate symbols or errors under gcc-12, clang-14');
  assert.deepEqual(r.base, BASE);
  assert.deepEqual(r.apply, APPLIED);
  assert.equal(r.series.title, 'x86: fix');
  assert.equal(r.builds.find((b) => b.toolchain === 'gcc-12' && b.phase === 'series')?.verdict, 'pass');
});

test("a toolchain's finding fails the series under that toolchain only", () => {
  const r = merge([
    { toolchain: gcc, result: result('gcc-12') },
    {
      toolchain: clang,
      result: result('clang-14', {
        builds: [
          report('clang-14', 'baseline'),
          report('clang-14', 'series', {
            status: 'fail',
            duplicates: { new: [dup('vmx.c#cpu_callback')], preexisting: [] },
          }),
        ],
      }),
    },
  ]);
  assert.equal(r.verdict, 'fail');
  assert.match(r.summary, /under clang-14/);
  assert.doesNotMatch(r.summary, /gcc-12/);
  const byTool = Object.fromEntries(
    r.builds.filter((b) => b.phase === 'series').map((b) => [b.toolchain, b.verdict]),
  );
  assert.deepEqual(byTool, { 'gcc-12': 'pass', 'clang-14': 'fail' });
});

test("a job that failed after its attempts is listci's error for its toolchain, never the series'", () => {
  const why =
    'the clang-14 build job failed after 3 attempt(s) (last on worker w2): worker w2: image listci/clang-14 not found';
  const r = merge([
    { toolchain: gcc, result: result('gcc-12') },
    { toolchain: clang, failed: why },
  ]);
  assert.equal(r.verdict, 'error');
  assert.match(r.summary, /^error: listci could not judge \(clang-14\): /);
  assert.match(r.summary, /image listci\/clang-14 not found/);
  const failed = r.builds.find((b) => b.toolchain === 'clang-14')!;
  assert.equal(failed.phase, 'series');
  assert.equal(failed.status, 'error');
  assert.equal(failed.botError, why);
  assert.equal(failed.verdict, 'error');
  assert.deepEqual(failed.duplicates, { new: [], preexisting: [] });
  assert.equal(r.builds.find((b) => b.toolchain === 'gcc-12' && b.phase === 'series')?.verdict, 'pass');
});

test('findings under one toolchain still fail the series when another toolchain could not be built', () => {
  const r = merge([
    {
      toolchain: gcc,
      result: result('gcc-12', {
        builds: [
          report('gcc-12', 'baseline'),
          report('gcc-12', 'series', { status: 'fail', duplicates: { new: [dup('x')], preexisting: [] } }),
        ],
      }),
    },
    { toolchain: clang, failed: 'the clang-14 build job stalled more than allowable limit' },
  ]);
  assert.equal(r.verdict, 'fail');
  assert.match(r.summary, /under gcc-12/);
  assert.doesNotMatch(r.summary, /clang-14/, 'the failed job is not counted as a finding');
});

test('a series that does not apply fails whatever the other toolchains said, with no builds', () => {
  const notApplied = {
    ...APPLIED,
    ok: false,
    applied: 1,
    failedPatch: { number: 2, total: 2, subject: 'x86: more', messageId: null },
    error: 'patch does not apply',
    skipped: 0,
  };
  const r = merge([
    { toolchain: gcc, result: result('gcc-12', { apply: notApplied, builds: [] }) },
    { toolchain: clang, failed: 'worker died' },
  ]);
  assert.equal(r.verdict, 'fail');
  assert.match(r.summary, /does not apply at patch 2\/2/);
  assert.deepEqual(r.builds, []);
  assert.equal(r.apply?.ok, false);
});

test('when no job came back, the run is an error that names every toolchain and the first reason', () => {
  const r = merge([
    { toolchain: gcc, failed: 'reason one' },
    { toolchain: clang, failed: 'reason two' },
  ]);
  assert.equal(r.verdict, 'error');
  assert.equal(r.apply, null);
  assert.equal(r.summary, 'error: listci could not judge (gcc-12, clang-14): reason one');
  assert.deepEqual(
    r.builds.map((b) => [b.toolchain, b.status, b.botError]),
    [
      ['gcc-12', 'error', 'reason one'],
      ['clang-14', 'error', 'reason two'],
    ],
  );
});

test('log paths are where the daemon wrote the returned logs; a log it did not keep is null', () => {
  const r = merge([{ toolchain: gcc, result: result('gcc-12') }], (t, rel) =>
    rel === 'series-gcc-12.log' ? `/var/logs/run-7/${rel}` : null,
  );
  assert.deepEqual(
    r.builds.map((b) => b.logPath),
    [null, '/var/logs/run-7/series-gcc-12.log'],
  );
});

test('the build window spans every worker that built', () => {
  const a = result('gcc-12');
  const b = {
    ...result('clang-14'),
    buildWindow: { startedAt: '2026-01-01T09:00:00.000Z', finishedAt: '2026-01-01T10:30:00.000Z' },
  };
  assert.deepEqual(buildWindowOf([a, b]), {
    startedAt: '2026-01-01T09:00:00.000Z',
    finishedAt: '2026-01-01T10:30:00.000Z',
  });
  assert.equal(buildWindowOf([{ ...a, buildWindow: null }]), null);
});

test('returned logs land in the run dir under their names; a name that climbs out, a non-log name and a log past the cap are not written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-logs-'));
  const logDir = join(dir, 'run-7');
  const data = (s: string) => Buffer.from(s).toString('base64');
  const written = writeLogs(
    logDir,
    [
      {
        logs: [
          { path: 'series-gcc-12.log', data: data('gcc\n') },
          { path: 'patch-1/series-gcc-12.log', data: data('patch 1\n') },
          { path: '../escaped.log', data: data('no') },
          { path: '/tmp/absolute.log', data: data('no') },
          { path: 'patch-1', data: data('no: a directory name') },
          { path: 'huge.log', data: data('x'.repeat(65)) },
        ],
      },
    ],
    silentLogger,
    64,
  );
  assert.deepEqual([...written].sort(), ['patch-1/series-gcc-12.log', 'series-gcc-12.log']);
  assert.equal(readFileSync(join(logDir, 'patch-1/series-gcc-12.log'), 'utf8'), 'patch 1\n');
  assert.equal(existsSync(join(dir, 'escaped.log')), false);
  assert.deepEqual(readdirSync(logDir).sort(), ['patch-1', 'series-gcc-12.log']);
});
