// The JSON API over a database that real checks filled: the demo daemon checks Alice's good
// series and Bob's bad one from mail, then Bob's v2 (posted in reply to his v1 cover letter,
// with the helper renamed into its own file) — real git, real gcc and clang, real replies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openDb, type Database } from '../../src/db/open.ts';
import { createWebApp } from '../../src/web/server.ts';
import type { FindingHit, Page, RunDetail, SeriesDetail, SeriesListItem } from '../../src/query/types.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const V1_COVER = 'cover.1795791283.git.bob@example.org'; // demo/inbox/02-0000-cover-letter.eml
const V2 = 'bob-v2-port-parser@example.org';
let cwd: string;
let db: Database;
let app: FastifyInstance;

/** Bob's v2, made as he would: git format-patch in reply to his v1 cover letter. */
function bobsV2(): string {
  const repo = join(cwd, 'bob');
  execFileSync(join(ROOT, 'demo/make-repo.sh'), [repo]);
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Bob Newcomer',
    GIT_AUTHOR_EMAIL: 'bob@example.org',
    GIT_COMMITTER_NAME: 'Bob Newcomer',
    GIT_COMMITTER_EMAIL: 'bob@example.org',
  };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env, encoding: 'utf8' });
  writeFileSync(
    join(repo, 'xen/common/port.c'),
    "static int __attribute__((noinline)) parse_port(const char *s)\n{\n    return *s - '0';\n}\n\nint drivers_parse_port(const char *s)\n{\n    return parse_port(s);\n}\n",
  );
  git('add', '-A');
  git('commit', '-q', '-m', 'serial port parsing', '-m', 'Signed-off-by: Bob Newcomer <bob@example.org>');
  const mail = git(
    'format-patch',
    '-1',
    '--stdout',
    '--base=HEAD~1',
    '--subject-prefix=PATCH v2',
    `--in-reply-to=<${V1_COVER}>`,
    `--add-header=Message-ID: <${V2}>`,
  );
  return mail.replace(/^From [0-9a-f]{40} .*\n/, '');
}

async function get<T>(url: string): Promise<T> {
  const res = await app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  return res.json() as T;
}

before(() => {
  cwd = tempDir('listci-api-real-');
  writeFileSync(join(cwd, 'listci.yaml'), 'web: { enabled: false }\n');
  const first = runCli(['daemon', '--demo', '--once'], { cwd });
  assert.equal(first.code, 0, first.stderr);
  writeFileSync(join(cwd, 'var/inbox/new/bob-v2.eml'), bobsV2());
  const second = runCli(['daemon', '--demo', '--once'], { cwd });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /checked "serial port parsing" by Bob Newcomer <bob@example\.org>: PASS/);
  db = openDb(join(cwd, 'var/listci.db'), { readonly: true });
  app = createWebApp({ db, workDir: join(cwd, 'var') });
});

after(async () => {
  await app?.close();
  db?.close();
});

describe('the API over real checks', () => {
  test("/api/series: Bob's series is one series with two versions, its latest run passes", async () => {
    const page = await get<Page<SeriesListItem>>('/api/series');
    assert.deepEqual(page.items.map((s) => s.title).sort(), [
      'serial port parsing',
      'xen/console: say which console is in use',
    ]);
    const bob = page.items.find((s) => s.authorAddr === 'bob@example.org')!;
    assert.equal(bob.versions, 2);
    assert.equal(bob.latestVersion, 2);
    assert.equal(bob.latestRun?.verdict, 'pass');
    assert.ok(bob.toolchains.length >= 1);
    for (const t of bob.toolchains) assert.equal(t.verdict, 'pass', t.toolchain);
  });

  test('filters and pagination: by author, and one series per page with a cursor', async () => {
    const bob = await get<Page<SeriesListItem>>('/api/series?author=newcomer');
    assert.deepEqual(
      bob.items.map((s) => s.authorAddr),
      ['bob@example.org'],
    );
    const first = await get<Page<SeriesListItem>>('/api/series?limit=1');
    assert.equal(first.items.length, 1);
    assert.ok(first.nextCursor);
    const second = await get<Page<SeriesListItem>>(
      `/api/series?limit=1&cursor=${encodeURIComponent(first.nextCursor)}`,
    );
    assert.equal(second.items.length, 1);
    assert.notEqual(second.items[0]!.id, first.items[0]!.id);
    assert.equal(second.nextCursor, null);
    const none = await get<Page<SeriesListItem>>('/api/series?verdict=fail');
    assert.deepEqual(none.items, [], 'v2 fixed what v1 broke: no series fails now');
  });

  test('/api/series/:message-id: did v2 fix what v1 broke?', async () => {
    const s = await get<SeriesDetail>(`/api/series/${encodeURIComponent(V1_COVER)}`);
    assert.deepEqual(
      s.versions.map((v) => [v.version, v.state]),
      [
        [1, 'superseded'],
        [2, 'complete'],
      ],
    );
    const [v1, v2] = s.versions;
    const v1run = v1!.runs[0]!;
    assert.equal(v1run.verdict, 'fail');
    const dup = v1run.builds
      .flatMap((b) => b.findings)
      .filter((f) => f.kind === 'duplicate-symbol' && f.status === 'new');
    assert.deepEqual([...new Set(dup.map((f) => f.symbol))], ['util.c#parse_one']);
    assert.deepEqual(dup[0]!.objects, ['common/util.o', 'drivers/util.o']);
    assert.match(v1run.reply?.body ?? '', /util\.c#parse_one/);
    assert.equal(v2!.runs[0]!.verdict, 'pass');
    assert.equal(v2!.headMessageId, V2);
  });

  test('/api/findings: who ever introduced parse_one, and /api/runs/:id stage times in order', async () => {
    const hits = await get<Page<FindingHit>>('/api/findings?symbol=parse_one&newOnly=true');
    assert.ok(hits.items.length >= 2, 'under gcc and clang');
    for (const h of hits.items) {
      assert.equal(h.symbol, 'util.c#parse_one');
      assert.equal(h.series?.version, 1);
      assert.equal(h.verdict, 'fail');
    }
    const run = await get<RunDetail>(`/api/runs/${hits.items[0]!.runId}`);
    const t = run.timestamps;
    const order = [t.mailReceived, t.queued, t.started, t.buildStart, t.buildEnd, t.finished, t.replySent];
    assert.ok(order.every(Boolean), JSON.stringify(t));
    assert.deepEqual(
      [...order].sort(),
      order,
      'mail received ≤ queued ≤ started ≤ builds ≤ finished ≤ reply',
    );
    assert.equal(run.result?.verdict, 'fail');
  });
});
