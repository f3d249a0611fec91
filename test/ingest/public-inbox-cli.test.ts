import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import type { CheckResult } from '../../src/contract.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { publicInboxMissing, startPublicInbox, type TestInbox } from '../helpers/public-inbox.ts';

// The backfill a maintainer runs before anything else: `listci ingest --public-inbox URL
// --since 14d` stores what the archive holds without checking or replying to any of it, and
// `listci check --message-id` then builds one of those series on demand.

const ROOT = new URL('../../', import.meta.url).pathname;
const DEMO = join(ROOT, 'demo/inbox');
const BAD_HEAD = 'cover.1795791283.git.bob@example.org';
const skip = skipUnlessCi(publicInboxMissing());

let inbox: TestInbox;
let dir: string;
before(async () => {
  if (skip) return;
  inbox = await startPublicInbox({ name: 'demo-devel' });
  for (const f of readdirSync(DEMO)
    .filter((n) => n.endsWith('.eml'))
    .sort())
    await inbox.deliver(readFileSync(join(DEMO, f)));
  dir = tempDir('listci-pi-cli-');
  execFileSync(join(ROOT, 'demo/make-repo.sh'), [join(dir, 'tree')]);
  writeFileSync(
    join(dir, 'listci.yaml'),
    `list: { name: demo-devel, addresses: [demo-devel@lists.example.org] }
repo: { url: ./tree, defaultBranch: main }
database: ./var/listci.db
workDir: ./var
build: { runner: local, toolchains: [ { name: gcc, cc: gcc } ] }
`,
  );
});
after(async () => {
  await inbox?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli([...args, '-c', join(dir, 'listci.yaml')], { cwd: dir });

test('ingest --public-inbox backfills without a check or a reply, and again reads nothing', { skip }, () => {
  const r = cli(['ingest', '--public-inbox', inbox.url, '--since', '3650d', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { stored: number; duplicates: number; series: unknown[] };
  assert.equal(s.stored, 4);
  assert.equal(s.series.length, 2, 'both demo series recorded');
  const db = new Database(join(dir, 'var/listci.db'), { readonly: true });
  try {
    const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    assert.equal(n("SELECT count(*) AS n FROM runs WHERE state <> 'cancelled'"), 0, 'nothing checked');
    assert.equal(n('SELECT count(*) AS n FROM jobs'), 0, 'nothing queued');
    assert.equal(
      n(
        `SELECT count(*) AS n FROM series_versions v
          WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.version_id = v.id AND r.summary LIKE 'imported by a backfill%')`,
      ),
      0,
      'every version is marked not checked, so the daemon never queues it',
    );
    assert.equal(n('SELECT count(*) AS n FROM replies'), 0, 'nothing replied to');
  } finally {
    db.close();
  }
  const again = cli(['ingest', '--public-inbox', `${inbox.url}/`, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { messages: number }).messages, 0, 'the position was kept');
});

test('check --message-id builds a backfilled series from the database and records it', { skip }, () => {
  const r = cli(['check', '--message-id', `<${BAD_HEAD}>`, '--json']);
  assert.equal(r.code, 1, `findings: exit 1\n${r.stderr}`);
  const result = JSON.parse(r.stdout) as CheckResult;
  assert.equal(result.verdict, 'fail');
  assert.match(r.stdout, /parse_one/);
  const db = new Database(join(dir, 'var/listci.db'), { readonly: true });
  try {
    const run = db
      .prepare(
        `SELECT r.verdict, v.head_message_id AS head FROM runs r JOIN series_versions v ON v.id = r.version_id
          WHERE r.verdict IS NOT NULL`,
      )
      .get() as { verdict: string; head: string };
    assert.deepEqual(run, { verdict: 'fail', head: BAD_HEAD }, 'recorded against the stored version');
  } finally {
    db.close();
  }
  const unknown = cli(['check', '--message-id', 'nobody@example.org']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no series .* has a mail <nobody@example.org>/);
});
