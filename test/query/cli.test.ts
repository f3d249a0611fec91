// `listci query` as a maintainer types it, through the real CLI entry point.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.ts';
import type { FindingHit, Page, SeriesDetail, SeriesListItem } from '../../src/query/types.ts';
import { fillDbWithChecks, type FilledDb } from '../helpers/fill-db.ts';

let dir: string;
let filled: FilledDb;

/**
 * Runs the real CLI entry point in-process (a spawned tsx costs 2 s per call) and captures
 * exactly the bytes it writes to stdout and stderr.
 */
async function listci(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = {
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
  };
  process.stdout.write = ((chunk: string | Uint8Array) => (
    out.push(String(chunk)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (
    err.push(String(chunk)),
    true
  )) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'listci', 'query', ...args, '--db', filled.dbPath]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.exitCode = undefined;
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'listci-cli-'));
  filled = await fillDbWithChecks(join(dir, 'listci.db'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('query series: an aligned table, and no raw control byte from a subject reaches the terminal', async () => {
  const r = await listci('series');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 6, r.stdout);
  assert.match(lines[0]!, /^ID +VERDICT +TOOLCHAINS +V +UPDATED +AUTHOR +TITLE$/);
  // Aligned: the TITLE column starts at the same offset on every row.
  const col = lines[0]!.indexOf('TITLE');
  const hvm = lines.find((l) => l.includes(filled.series.hvm.title))!;
  assert.equal(hvm.indexOf(filled.series.hvm.title), col);
  assert.doesNotMatch(r.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  assert.match(r.stdout, /<script>alert\("xss"\)<\/script> x86: \\x1b\[31mred\\x1b\[0m <b>bold<\/b>/);
  assert.match(r.stdout, /Mallory <img src=x onerror=alert\(1\)> <mallory@example\.org>/);
});

test('query series --json with filters: which series fail under gcc this week', async () => {
  const r = await listci('series', '--toolchain', 'gcc', '--verdict', 'fail', '--since', '7d', '--json');
  assert.equal(r.code, 0, r.stderr);
  const page = JSON.parse(r.stdout) as Page<SeriesListItem>;
  assert.deepEqual(
    page.items.map((s) => s.title),
    [filled.series.hostile.title],
  );
  assert.equal(
    page.items[0]!.title.includes('\u001b'),
    true,
    'JSON keeps the exact bytes; escaping is JSON’s',
  );
});

test('query show <message-id>: did v2 fix what v1 broke? the text says so, escaped', async () => {
  const r = await listci('show', filled.series.hvm.headMessageIds[1]!);
  assert.equal(r.code, 0, r.stderr);
  const [v1, v2] = r.stdout.split(/\n(?=v2 )/);
  assert.match(v1!, /clang \(series\): fail/);
  assert.match(
    v1!,
    /new duplicate hvm\.c#cpu_callback \(arch\/x86\/hvm\/hvm\.o, arch\/x86\/hvm\/vmx\/vmx\.o\)/,
  );
  assert.match(v1!, /reply sent .*Re: \[PATCH 0\/2\]/);
  assert.match(v2!, /run \d+: pass/);
  assert.doesNotMatch(v2!, /^ +new duplicate/m);
  const hostile = await listci('show', filled.series.hostile.headMessageIds[0]!);
  assert.doesNotMatch(hostile.stdout, /\u001b/);
  const json = JSON.parse(
    (await listci('show', filled.series.hvm.headMessageIds[0]!, '--json')).stdout,
  ) as SeriesDetail;
  assert.equal(json.versions.length, 2);
});

test('query show of an unknown Message-ID exits 1 and names it', async () => {
  const r = await listci('show', 'nobody@nowhere');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nobody@nowhere/);
});

test('query findings --symbol --new-only: who introduced hvm.c#cpu_callback', async () => {
  const r = await listci('findings', '--symbol', 'hvm.c#cpu_callback', '--new-only', '--json');
  assert.equal(r.code, 0, r.stderr);
  const page = JSON.parse(r.stdout) as Page<FindingHit>;
  assert.equal(page.items.length, 1);
  assert.equal(page.items[0]!.series?.title, filled.series.hvm.title);
  assert.equal(page.items[0]!.toolchain, 'clang');
  const table = await listci('findings', '--symbol', 'cpu_callback');
  assert.match(table.stdout, /^RUN +FINISHED +TOOLCHAIN +STATUS +FINDING +SERIES$/m);
  assert.match(table.stdout, /clang +new +hvm\.c#cpu_callback +v1 x86\/hvm: rework/);
  assert.match(table.stdout, /gcc-12 +preexisting +hvm\.c#cpu_callback/);
});

test('query stats: pass/fail per toolchain per week', async () => {
  const r = await listci('stats', '--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as {
    week: string;
    toolchain: string;
    pass: number;
    fail: number;
    error: number;
  }[];
  const total = (tc: string, k: 'pass' | 'fail' | 'error') =>
    rows.filter((x) => x.toolchain === tc).reduce((a, x) => a + x[k], 0);
  // Five series builds per toolchain; the apply failure built nothing.
  assert.deepEqual([total('clang', 'pass'), total('clang', 'fail'), total('clang', 'error')], [3, 1, 1]);
  assert.deepEqual([total('gcc-12', 'pass'), total('gcc-12', 'fail'), total('gcc-12', 'error')], [4, 1, 0]);
  assert.ok(
    rows.every((x) => new Date(`${x.week}T00:00:00Z`).getUTCDay() === 1),
    'weeks start on Monday',
  );
  assert.match((await listci('stats')).stdout, /^WEEK +TOOLCHAIN +PASS +FAIL +ERROR$/m);
});
