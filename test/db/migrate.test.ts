import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { readMigrations } from '../../src/db/migrate.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

function setup() {
  const dir = tempDir();
  const db = join(dir, 'sub', 'listci.db');
  const config = join(dir, 'listci.yaml');
  writeFileSync(config, `database: ${db}\n`);
  return { dir, db, config };
}

test('db migrate on a new path creates the schema; a second run changes nothing', () => {
  const { db, config } = setup();
  const first = runCli(['db', 'migrate', '--config', config]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /applied 0001_initial/);

  const h = new BetterSqlite3(db, { readonly: true });
  const tables = (
    h.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]
  ).map((r) => r.name);
  for (const t of [
    'messages',
    'series',
    'series_versions',
    'patches',
    'runs',
    'builds',
    'findings',
    'replies',
    'jobs',
  ])
    assert.ok(tables.includes(t), `table ${t}`);
  assert.equal(h.pragma('journal_mode', { simple: true }), 'wal');
  const count = (h.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n;
  h.close();
  assert.equal(count, readMigrations().length);

  const second = runCli(['db', 'migrate', '--config', config]);
  assert.equal(second.code, 0);
  assert.match(second.stdout, /up to date/);
  assert.doesNotMatch(second.stdout, /applied/);
});

test('db status lists the applied migrations, also as JSON', () => {
  const { config } = setup();
  runCli(['db', 'migrate', '--config', config]);
  const r = runCli(['db', 'status', '--config', config]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /applied\s+0001_initial/);
  const j = JSON.parse(runCli(['db', 'status', '--json', '--config', config]).stdout) as {
    applied: { version: number }[];
    pending: unknown[];
  };
  assert.equal(j.applied[0]?.version, 1);
  assert.deepEqual(j.pending, []);
});

test('a database newer than the code is refused with a clear message', () => {
  const { db, config } = setup();
  runCli(['db', 'migrate', '--config', config]);
  const h = new BetterSqlite3(db);
  h.prepare("INSERT INTO schema_migrations VALUES (999, 'from_the_future', '2030-01-01')").run();
  h.close();
  const r = runCli(['db', 'migrate', '--config', config]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /schema is at version 999, but this listci knows only up to \d+/);
});

test('a failing migration leaves no half-applied schema', async () => {
  const { openDb } = await import('../../src/db/open.ts');
  const { migrate } = await import('../../src/db/migrate.ts');
  const dir = tempDir();
  const h = openDb(join(dir, 'x.db'), { migrate: false });
  const broken = [
    { version: 1, name: 'ok', sql: 'CREATE TABLE a (x INTEGER);' },
    { version: 2, name: 'broken', sql: 'CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);' },
  ];
  assert.throws(() => migrate(h, broken), /no such table: nowhere/);
  const names = (
    h.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]
  ).map((r) => r.name);
  assert.ok(names.includes('a'));
  assert.ok(!names.includes('b'), 'the failed migration was rolled back');
  assert.deepEqual(
    (h.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
    [1],
  );
  h.close();
});
