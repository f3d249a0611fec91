// The JSON API, asked the questions a Xen maintainer asks, against a database filled by checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openDb } from '../../src/db/open.ts';
import type { FindingHit, Page, RunDetail, SeriesDetail, SeriesListItem } from '../../src/query/types.ts';
import { filledWebApp, type FilledDb } from '../helpers/fill-db.ts';

let filled: FilledDb;
let app: FastifyInstance;
let close: () => Promise<void>;
async function get<T>(url: string, status = 200): Promise<T> {
  const res = await app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, status, `${url}: ${res.body}`);
  return res.json() as T;
}

before(async () => {
  ({ filled, app, close } = await filledWebApp('listci-api-'));
});

after(() => close());

describe('/api/series', () => {
  test('lists every series newest first with per-toolchain badges of its latest run', async () => {
    const page = await get<Page<SeriesListItem>>('/api/series');
    assert.equal(page.items.length, 5);
    const updated = page.items.map((s) => s.updatedAt);
    assert.deepEqual(updated, [...updated].sort().reverse());
    const hvm = page.items.find((s) => s.title === filled.series.hvm.title)!;
    assert.equal(hvm.author, filled.series.hvm.author);
    assert.equal(hvm.latestVersion, 2);
    assert.equal(hvm.versions, 2);
    assert.equal(hvm.latestRun?.verdict, 'pass');
    assert.deepEqual(
      hvm.toolchains.map((t) => [t.toolchain, t.status]),
      [
        ['clang', 'pass'],
        ['gcc-12', 'pass'],
      ],
    );
    assert.equal(page.nextCursor, null);
  });

  test('filters by author name or address, subject text, list and version', async () => {
    const byName = await get<Page<SeriesListItem>>('/api/series?author=Roger');
    assert.deepEqual(
      byName.items.map((s) => s.title),
      [filled.series.hvm.title],
    );
    const byAddr = await get<Page<SeriesListItem>>('/api/series?author=julien%40xen.org');
    assert.deepEqual(
      byAddr.items.map((s) => s.title),
      [filled.series.vgic.title],
    );
    const bySubject = await get<Page<SeriesListItem>>('/api/series?subject=credit2');
    assert.deepEqual(
      bySubject.items.map((s) => s.title),
      [filled.series.credit2.title],
    );
    // A % in the text is a character, not a wildcard.
    assert.equal((await get<Page<SeriesListItem>>('/api/series?subject=%25')).items.length, 0);
    const v2 = await get<Page<SeriesListItem>>('/api/series?version=2');
    assert.deepEqual(
      v2.items.map((s) => s.title),
      [filled.series.hvm.title],
    );
    assert.equal((await get<Page<SeriesListItem>>('/api/series?list=xen-devel')).items.length, 5);
    assert.equal((await get<Page<SeriesListItem>>('/api/series?list=linux-arm')).items.length, 0);
  });

  test('verdict and toolchain: which series currently fail, and under which compiler', async () => {
    const failing = await get<Page<SeriesListItem>>('/api/series?verdict=fail');
    assert.deepEqual(
      failing.items.map((s) => s.title).sort(),
      [filled.series.hostile.title, filled.series.vgic.title].sort(),
    );
    const gccFail = await get<Page<SeriesListItem>>('/api/series?toolchain=gcc&verdict=fail');
    assert.deepEqual(
      gccFail.items.map((s) => s.title),
      [filled.series.hostile.title],
    );
    // The bot's own failure to build with clang is an error, never a failure of the series.
    const clangError = await get<Page<SeriesListItem>>('/api/series?toolchain=clang&verdict=error');
    assert.deepEqual(
      clangError.items.map((s) => s.title),
      [filled.series.libs.title],
    );
    const clangFail = await get<Page<SeriesListItem>>('/api/series?toolchain=clang&verdict=fail');
    assert.equal(clangFail.items.length, 0, 'v2 of the hvm series fixed what v1 broke under clang');
  });

  test('since: only series with activity in the window', async () => {
    const week = await get<Page<SeriesListItem>>('/api/series?since=7d');
    assert.deepEqual(
      week.items.map((s) => s.title).sort(),
      [filled.series.hvm.title, filled.series.libs.title, filled.series.hostile.title].sort(),
    );
    await get('/api/series?since=yesterday-ish', 400);
  });

  test('cursor pagination walks every series once, in order', async () => {
    const all = await get<Page<SeriesListItem>>('/api/series');
    const seen: number[] = [];
    let url = '/api/series?limit=2';
    for (;;) {
      const page = await get<Page<SeriesListItem>>(url);
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((s) => s.id));
      if (!page.nextCursor) break;
      url = `/api/series?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    assert.deepEqual(
      seen,
      all.items.map((s) => s.id),
    );
    const p3 = await get<Page<SeriesListItem>>('/api/series?limit=2&page=3');
    assert.equal(p3.page, 3);
    assert.deepEqual(
      p3.items.map((s) => s.id),
      all.items.slice(4).map((s) => s.id),
    );
  });

  test('bad parameters are a 400 that names them', async () => {
    const verdict = await app.inject({ url: '/api/series?verdict=maybe' });
    assert.equal(verdict.statusCode, 400);
    assert.match(verdict.json<{ message: string }>().message, /verdict/);
    assert.equal((await app.inject({ url: '/api/series?limit=100000' })).statusCode, 400);
    const cursor = await app.inject({ url: '/api/series?cursor=not-a-cursor' });
    assert.equal(cursor.statusCode, 400);
    assert.match(cursor.json<{ message: string }>().message, /cursor/);
  });
});

describe('/api/series/:id', () => {
  test('by any Message-ID: both versions, v1 broke clang with hvm.c#cpu_callback, v2 fixed it', async () => {
    const [v1Head, v2Head] = filled.series.hvm.headMessageIds;
    const s = await get<SeriesDetail>(`/api/series/${encodeURIComponent(`<${v2Head}>`)}`);
    assert.equal(s.title, filled.series.hvm.title);
    assert.deepEqual(
      s.versions.map((v) => v.version),
      [1, 2],
    );
    const [v1, v2] = s.versions;
    assert.equal(v1!.headMessageId, v1Head);
    assert.equal(v1!.state, 'superseded');
    assert.equal(v1!.patches.length, 2);
    const v1clang = v1!.runs[0]!.builds.find((b) => b.toolchain === 'clang')!;
    assert.equal(v1clang.status, 'fail');
    assert.deepEqual(
      v1clang.findings
        .filter((f) => f.kind === 'duplicate-symbol' && f.status === 'new')
        .map((f) => f.symbol),
      ['hvm.c#cpu_callback'],
    );
    assert.ok(v1clang.excerpts.some((e) => e.includes("Duplicate symbol 'hvm.c#cpu_callback'")));
    assert.equal(v2!.runs[0]!.verdict, 'pass');
    assert.ok(v2!.runs[0]!.builds.every((b) => b.findings.every((f) => f.status !== 'new')));
    // What the bot told the author, in the thread.
    assert.equal(v1!.runs[0]!.reply?.state, 'sent');
    assert.match(v1!.runs[0]!.reply!.body, /new duplicate symbol hvm\.c#cpu_callback/);
    // The id works as well as a Message-ID of a patch.
    const byPatch = await get<SeriesDetail>(`/api/series/${encodeURIComponent(v1!.patches[1]!.messageId)}`);
    assert.equal(byPatch.id, s.id);
    assert.equal((await get<SeriesDetail>(`/api/series/${s.id}`)).title, s.title);
  });

  test('an apply failure names the patch and git’s words', async () => {
    const s = await get<SeriesDetail>(
      `/api/series/${encodeURIComponent(filled.series.vgic.headMessageIds[0]!)}`,
    );
    const run = s.versions[0]!.runs[0]!;
    assert.equal(run.apply?.ok, false);
    assert.equal(run.apply?.failedPatch?.number, 2);
    assert.match(run.apply!.error!, /patch does not apply/);
    assert.equal(run.builds.length, 0);
  });

  test('unknown series is a 404 that says what was looked up', async () => {
    const res = await app.inject({ url: '/api/series/nobody%40nowhere' });
    assert.equal(res.statusCode, 404);
    assert.match(res.json<{ message: string }>().message, /nobody@nowhere/);
  });
});

describe('/api/runs/:id', () => {
  test('the CheckResult plus every stage timestamp, in pipeline order', async () => {
    const s = await get<SeriesDetail>(
      `/api/series/${encodeURIComponent(filled.series.hvm.headMessageIds[0]!)}`,
    );
    const runId = s.versions[0]!.runs[0]!.id;
    const r = await get<RunDetail>(`/api/runs/${runId}`);
    assert.equal(r.result?.verdict, 'fail');
    assert.equal(r.result?.series.title, filled.series.hvm.title);
    assert.equal(r.result?.builds.length, 2);
    const t = r.timestamps;
    const order = [
      t.mailReceived,
      t.seriesComplete,
      t.started,
      t.buildStart,
      t.buildEnd,
      t.finished,
      t.replySent,
    ];
    assert.ok(
      order.every((x) => typeof x === 'string'),
      JSON.stringify(t),
    );
    assert.deepEqual(order, [...order].sort());
    assert.equal(r.base.reason, 'default branch staging (no base-commit trailer)');
  });

  test('a bot error is kept apart from the series: no reply blames it', async () => {
    const s = await get<SeriesDetail>(
      `/api/series/${encodeURIComponent(filled.series.libs.headMessageIds[0]!)}`,
    );
    const r = await get<RunDetail>(`/api/runs/${s.versions[0]!.runs[0]!.id}`);
    assert.equal(r.verdict, 'error');
    const clang = r.builds.find((b) => b.toolchain === 'clang')!;
    assert.match(clang.botError ?? '', /image listci-tc-clang not found/);
    assert.equal(r.reply?.state, 'suppressed');
    assert.equal(r.timestamps.replySent, null);
  });

  test('404 for a run that does not exist, 400 for a non-number', async () => {
    await get('/api/runs/99999', 404);
    await get('/api/runs/abc', 400);
  });
});

describe('/api/findings', () => {
  test('has anyone ever introduced hvm.c#cpu_callback? the hvm series v1, under clang', async () => {
    const all = await get<Page<FindingHit>>('/api/findings?symbol=hvm.c%23cpu_callback');
    assert.deepEqual(all.items.map((f) => f.status).sort(), ['new', 'preexisting']);
    const introduced = await get<Page<FindingHit>>('/api/findings?symbol=hvm.c%23cpu_callback&newOnly=true');
    assert.equal(introduced.items.length, 1);
    const f = introduced.items[0]!;
    assert.equal(f.toolchain, 'clang');
    assert.equal(f.series?.title, filled.series.hvm.title);
    assert.equal(f.series?.version, 1);
    assert.deepEqual(f.objects, ['arch/x86/hvm/hvm.o', 'arch/x86/hvm/vmx/vmx.o']);
  });

  test('a bare name finds the symbol in any file; a glob matches keys', async () => {
    const byName = await get<Page<FindingHit>>('/api/findings?symbol=cpu_callback');
    assert.ok(byName.items.length >= 2);
    assert.ok(byName.items.every((f) => f.symbol === 'hvm.c#cpu_callback'));
    const glob = await get<Page<FindingHit>>('/api/findings?symbol=entry.S%23*');
    assert.deepEqual(
      glob.items.map((f) => f.symbol),
      ['entry.S#restore_all_guest'],
    );
    const gccOnly = await get<Page<FindingHit>>(
      '/api/findings?toolchain=gcc&newOnly=true&kind=duplicate-symbol',
    );
    assert.deepEqual(
      gccOnly.items.map((f) => f.symbol),
      ['entry.S#restore_all_guest'],
    );
  });

  test('pages by cursor without repeating a finding', async () => {
    const all = await get<Page<FindingHit>>('/api/findings');
    const first = await get<Page<FindingHit>>('/api/findings?limit=2');
    assert.ok(first.nextCursor);
    const second = await get<Page<FindingHit>>(`/api/findings?limit=2&cursor=${first.nextCursor}`);
    assert.deepEqual(
      [...first.items, ...second.items].map((f) => f.id),
      all.items.slice(0, 4).map((f) => f.id),
    );
  });
});

describe('build logs', () => {
  test('served as text from under the work dir', async () => {
    const s = await get<SeriesDetail>(
      `/api/series/${encodeURIComponent(filled.series.hvm.headMessageIds[0]!)}`,
    );
    const clang = s.versions[0]!.runs[0]!.builds.find((b) => b.toolchain === 'clang')!;
    assert.equal(clang.hasLog, true);
    const res = await app.inject({ url: `/api/builds/${clang.id}/log` });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(res.body, /Duplicate symbol 'hvm\.c#cpu_callback'/);
  });

  test('a log path outside the work dir is refused, also when it climbs out with ../', async () => {
    const outside = join(dirname(filled.dbPath), '..', `listci-outside-${process.pid}.log`);
    writeFileSync(outside, 'secret\n');
    const w = openDb(filled.dbPath);
    const ids = w.prepare('SELECT id FROM builds ORDER BY id LIMIT 2').all() as { id: number }[];
    w.prepare('UPDATE builds SET log_path = ? WHERE id = ?').run(outside, ids[0]!.id);
    w.prepare('UPDATE builds SET log_path = ? WHERE id = ?').run(
      join(filled.workDir, '..', '..', 'etc', 'passwd'),
      ids[1]!.id,
    );
    w.close();
    try {
      for (const { id } of ids) {
        const res = await app.inject({ url: `/api/builds/${id}/log` });
        assert.equal(res.statusCode, 404, res.body);
        assert.doesNotMatch(res.body, /secret|root:/);
      }
    } finally {
      rmSync(outside, { force: true });
    }
  });
});

describe('operations', () => {
  test('/metrics: queue depth, runs by verdict, build duration and mail-to-reply histograms', async () => {
    const res = await app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = res.body;
    assert.match(m, /^listci_queue_depth\{kind="check",state="queued"\} 1$/m);
    assert.match(m, /^listci_runs_total\{verdict="pass"\} 2$/m);
    assert.match(m, /^listci_runs_total\{verdict="fail"\} 3$/m);
    assert.match(m, /^listci_runs_total\{verdict="error"\} 1$/m);
    assert.match(m, /^# TYPE listci_build_duration_seconds histogram$/m);
    assert.match(m, /^listci_build_duration_seconds_count\{toolchain="clang"\} \d+$/m);
    // Five replies were sent; the suppressed one has no latency.
    assert.match(m, /^listci_mail_to_reply_seconds_count 5$/m);
    assert.match(m, /^listci_mail_to_reply_seconds_bucket\{le="\+Inf"\} 5$/m);
  });

  test('/healthz answers from the database', async () => {
    const h = await get<{ ok: boolean; schemaVersion: number }>('/healthz');
    assert.equal(h.ok, true);
    assert.ok(h.schemaVersion >= 1);
  });
});
