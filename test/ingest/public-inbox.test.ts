import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { openDb, type Database } from '../../src/db/open.ts';
import { epochPositions } from '../../src/db/public-inbox-epochs.ts';
import { PublicInboxReader, type PublicInboxOptions } from '../../src/ingest/public-inbox.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  publicInboxMissing,
  seriesMails,
  startPublicInbox,
  TEST_LIST_CONFIG,
  type TestInbox,
} from '../helpers/public-inbox.ts';

// The public-inbox source against a real v2 archive (public-inbox-init -V2, mail through
// public-inbox-mda), read over git smart HTTP from public-inbox-httpd: every mail stored
// exactly once whatever happens between two syncs (a restart, a new epoch, a purge that
// rewrites history, a kill -9 between the fetch and the store).

const skip = skipUnlessCi(publicInboxMissing());
const CFG = TEST_LIST_CONFIG;

let inbox: TestInbox;
let dir: string;
let db: Database;
before(async () => {
  if (skip) return;
  inbox = await startPublicInbox({ name: 'test-devel' });
  // The archive's first commit is a mail (the kill tests count from it), and not a purged one.
  await inbox.deliver(seriesMails({ tag: 'seed', n: 1, to: inbox.address })[1]!);
});
after(async () => inbox?.stop());
afterEach(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh database and mirror for one test, on the shared archive (each test posts its own series). */
function fresh(): { db: Database; opts: PublicInboxOptions } {
  dir = tempDir('listci-pi-test-');
  db = openDb(join(dir, 'listci.db'));
  return { db, opts: { url: inbox.url, mirrorDir: join(dir, 'mirror'), since: null } };
}

const deliverAll = async (mails: Buffer[]) => {
  for (const m of mails) await inbox.deliver(m);
};
const count = (sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { n: number }).n;
const storedIds = () =>
  (db.prepare('SELECT message_id FROM messages ORDER BY message_id').all() as { message_id: string }[]).map(
    (r) => r.message_id,
  );
const idsOf = (mails: Buffer[]) => mails.map((m) => /^Message-ID: <([^>]+)>/m.exec(m.toString())![1]!).sort();

test('mail delivered while listci is down is stored once at the next start', { skip }, async () => {
  const { db, opts } = fresh();
  const first = await new PublicInboxReader(db, CFG, opts).sync();
  assert.equal(first.duplicates, 0);
  const already = storedIds();

  const mails = seriesMails({ tag: 'down', n: 2, to: inbox.address });
  await deliverAll(mails); // no reader exists: listci is down
  const restarted = new PublicInboxReader(db, CFG, opts);
  const s = await restarted.sync();
  assert.equal(s.stored, 3, 'the three mails posted meanwhile');
  assert.equal(s.duplicates, 0, 'nothing stored before is read again');
  assert.deepEqual(storedIds(), [...already, ...idsOf(mails)].sort());
  assert.equal((await restarted.sync()).messages, 0, 'an idle sync reads nothing');
  const v = db
    .prepare(`SELECT state FROM series_versions WHERE head_message_id = 'cover.down@example.org'`)
    .get() as { state: string };
  assert.equal(v.state, 'complete', 'the series is grouped whole');
});

test('a local inbox path works as the URL', { skip }, async () => {
  const { db, opts } = fresh();
  const s = await new PublicInboxReader(db, CFG, { ...opts, url: inbox.dir }).sync();
  assert.ok(s.stored > 0);
  assert.equal(count('SELECT count(*) AS n FROM messages'), inbox.mailCount());
});

test('a series split by a new epoch is whole, and the new epoch is followed', { skip }, async () => {
  const { db, opts } = fresh();
  const reader = new PublicInboxReader(db, CFG, opts);
  await reader.sync();
  const mails = seriesMails({ tag: 'split', n: 3, to: inbox.address });
  await deliverAll(mails.slice(0, 2)); // cover letter and 1/3 in the old epoch
  await reader.sync();
  const epoch = await inbox.newEpoch();
  await deliverAll(mails.slice(2)); // 2/3 and 3/3 in the new one
  assert.ok(inbox.commitCounts()[epoch]! >= 2, 'the rest went to the new epoch');
  const s = await reader.sync();
  assert.equal(s.stored, 2);
  assert.ok(s.epochs.includes(epoch));
  const v = db
    .prepare(`SELECT state, missing FROM series_versions WHERE head_message_id = 'cover.split@example.org'`)
    .get() as {
    state: string;
    missing: string;
  };
  assert.deepEqual(v, { state: 'complete', missing: '[]' });
  assert.ok(epochPositions(db, inbox.url).has(epoch), 'a position is kept for the new epoch');

  // A second half posted after another rotation, both arriving between two syncs.
  const late = seriesMails({ tag: 'split-late', n: 2, to: inbox.address });
  await deliverAll(late.slice(0, 2));
  await inbox.newEpoch();
  await deliverAll(late.slice(2));
  const t = await reader.sync();
  assert.equal(t.stored, 3);
  assert.equal(t.duplicates, 0);
  const w = db
    .prepare(`SELECT state FROM series_versions WHERE head_message_id = 'cover.split-late@example.org'`)
    .get() as {
    state: string;
  };
  assert.equal(w.state, 'complete');
});

test('a purge rewrites the epoch: resynced with no duplicate and no lost mail', { skip }, async () => {
  const { db, opts } = fresh();
  const reader = new PublicInboxReader(db, CFG, opts);
  const mails = seriesMails({ tag: 'purge', n: 3, to: inbox.address });
  await deliverAll(mails);
  await reader.sync();
  const stored = storedIds();
  // Purging the cover letter rewrites every later commit of its epoch (new commit ids).
  await inbox.purge(mails[0]!);
  const extra = seriesMails({ tag: 'after-purge', n: 1, to: inbox.address });
  await deliverAll(extra);
  const s = await reader.sync();
  assert.ok(s.rewritten.length >= 1, 'the rewrite is noticed');
  assert.equal(s.stored, 2, 'only the mail posted after the purge is new');
  assert.deepEqual(storedIds(), [...stored, ...idsOf(extra)].sort(), 'nothing lost, nothing doubled');
  assert.equal(count('SELECT count(*) AS n FROM messages'), new Set(storedIds()).size);
  assert.equal((await reader.sync()).messages, 0, 'the resync ends at the new head');
});

function child(settings: {
  db: string;
  url: string;
  mirrorDir: string;
  batch: number;
  kill: string | null;
}): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'test/ingest/public-inbox-child.ts'], {
    env: { ...process.env, LISTCI_TEST_PI: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return once(p, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    out,
  }));
}

test(
  'kill -9 between the fetch and the store: the mail is stored once at the restart',
  { skip },
  async () => {
    const { opts } = fresh();
    db.close();
    const settings = { db: join(dir, 'listci.db'), url: inbox.url, mirrorDir: opts.mirrorDir, batch: 500 };
    const total = inbox.mailCount();
    const killed = await child({ ...settings, kill: 'after-fetch' });
    assert.equal(killed.signal, 'SIGKILL');
    db = openDb(settings.db);
    assert.equal(count('SELECT count(*) AS n FROM messages'), 0, 'killed before anything was stored');
    const mirrored = Number(
      execFileSync('git', ['-C', join(opts.mirrorDir, '0.git'), 'rev-list', '--count', 'refs/heads/master'])
        .toString()
        .trim(),
    );
    assert.equal(mirrored, inbox.commitCounts()[0], 'the first epoch was fetched whole');
    db.close();

    const again = await child({ ...settings, kill: null });
    assert.equal(again.code, 0);
    const s = JSON.parse(again.out) as { stored: number; duplicates: number; commits: number };
    assert.equal(s.duplicates, 0);
    db = openDb(settings.db);
    assert.equal(count('SELECT count(*) AS n FROM messages'), total, 'every mail of the archive, once');
  },
);

test(
  'kill -9 right after a batch commits: its position moved with it, nothing is read twice',
  { skip },
  async () => {
    const { opts } = fresh();
    db.close();
    const settings = { db: join(dir, 'listci.db'), url: inbox.url, mirrorDir: opts.mirrorDir, batch: 1 };
    const total = inbox.mailCount();
    const killed = await child({ ...settings, kill: 'after-commit' });
    assert.equal(killed.signal, 'SIGKILL');
    db = openDb(settings.db);
    assert.equal(count('SELECT count(*) AS n FROM messages'), 1, 'one batch of one commit was committed');
    db.close();

    const again = await child({ ...settings, kill: null });
    const s = JSON.parse(again.out) as { stored: number; duplicates: number; messages: number };
    assert.equal(
      s.duplicates,
      0,
      'the committed mail is not read again: its position was in its transaction',
    );
    db = openDb(settings.db);
    assert.equal(count('SELECT count(*) AS n FROM messages'), total);
  },
);
