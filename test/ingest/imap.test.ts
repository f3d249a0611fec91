import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ImapFlow } from 'imapflow';
import { openDb, type Database } from '../../src/db/open.ts';
import { ImapSource } from '../../src/ingest/imap.ts';
import { findMessageIdOverImap } from '../../src/ingest/imap-search.ts';
import type { StoredMessage } from '../../src/ingest/store.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import { type Dovecot, startDovecot } from '../helpers/dovecot.ts';

// LISTCI_TEST_LOG=debug shows what the source did.
const log = process.env.LISTCI_TEST_LOG ? createLogger(process.env.LISTCI_TEST_LOG) : silentLogger;

const patchMail = readFileSync('test/fixtures/ingest/xen-livepatch-v2-single-patch.eml', 'latin1');

/** The fixture patch, re-sent as a distinct mail: its own Message-ID and subject, CRLF as on the wire. */
function mail(tag: string): { id: string; raw: Buffer } {
  const id = `20261127144644.${tag}-1-roger@example.com`;
  const text = patchMail
    .replace(/^Message-Id: .*$/m, `Message-Id: <${id}>`)
    .replace(/^Subject: (.*)$/m, `Subject: $1 (${tag})`)
    .replace(/\r?\n/g, '\r\n');
  return { id, raw: Buffer.from(text, 'latin1') };
}

/** Cleanups run last-registered first: listci stops before the Dovecot it talks to. */
const cleanups = new WeakMap<TestContext, (() => unknown)[]>();
function onCleanup(t: TestContext, fn: () => unknown): void {
  let list = cleanups.get(t);
  if (!list) {
    const fresh: (() => unknown)[] = [];
    cleanups.set(t, fresh);
    t.after(async () => {
      for (const f of fresh.reverse()) await f();
    });
    list = fresh;
  }
  list.push(fn);
}

async function dovecot(t: TestContext, mailboxes?: string[]): Promise<Dovecot> {
  const d = await startDovecot({ mailboxes });
  onCleanup(t, () => d.stop());
  return d;
}

function database(t: TestContext): Database {
  const dir = mkdtempSync(join(tmpdir(), 'listci-imap-test-'));
  const db = openDb(join(dir, 'listci.db'));
  onCleanup(t, () => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

/** A running listci IMAP source; `seen` records every onStored call, in order. */
function source(t: TestContext, d: Dovecot, db: Database, mailbox = 'INBOX') {
  const seen: StoredMessage[] = [];
  const src = new ImapSource({
    host: d.host,
    port: d.port,
    secure: false,
    user: d.user,
    password: d.password,
    mailbox,
    recheckSeconds: 60,
    db,
    log,
    onStored: (s) => seen.push(s),
    backoff: { initialMs: 50, maxMs: 400 },
  });
  src.start();
  onCleanup(t, () => src.stop());
  return { src, seen };
}

function storedIds(db: Database): string[] {
  return (
    db.prepare('SELECT message_id FROM messages ORDER BY message_id').all() as { message_id: string }[]
  ).map((r) => r.message_id);
}

function syncRow(db: Database, key: string): { uidvalidity: string; last_uid: number } {
  return db.prepare('SELECT uidvalidity, last_uid FROM mail_sync WHERE source = ?').get(key) as {
    uidvalidity: string;
    last_uid: number;
  };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A second IMAP user session, as a list server or a mail admin would have. */
async function adminClient(d: Dovecot): Promise<ImapFlow> {
  const c = new ImapFlow({
    host: d.host,
    port: d.port,
    secure: false,
    auth: { user: d.user, pass: d.password },
    logger: false,
    disableAutoIdle: true,
  });
  await c.connect();
  return c;
}

const sorted = (ids: string[]): string[] => [...ids].sort();

test('a patch mail posted to the list while listci runs is stored within 2 s, as it arrived', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  const { src, seen } = source(t, d, db);
  await within(src.caughtUp(), 5000, 'first sync of an empty INBOX');

  const m = mail('live');
  const t0 = Date.now();
  await d.append(m.raw);
  const appended = Date.now() - t0;
  while (storedIds(db).length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
  const elapsed = Date.now() - t0;

  assert.deepEqual(storedIds(db), [m.id]);
  assert.ok(elapsed < 2000, `stored after ${elapsed} ms, want < 2000 ms (IDLE push)`);
  const row = db.prepare('SELECT raw, source FROM messages').get() as { raw: Buffer; source: string };
  assert.deepEqual(row.raw, m.raw, 'the stored bytes are the mail as posted');
  assert.equal(row.source, `imap:listci@127.0.0.1:${d.port}/INBOX`);
  assert.deepEqual(
    seen.map((s) => [s.messageId, s.inserted]),
    [[m.id, true]],
  );
  t.diagnostic(`append to stored: ${elapsed} ms (of which the APPEND session: ${appended} ms)`);
});

test('mails posted while listci is down are all ingested exactly once when it starts, and again after a restart', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  const first = ['a', 'b', 'c', 'd', 'e'].map(mail);
  for (const m of first) await d.append(m.raw);

  const one = source(t, d, db);
  await within(one.src.caughtUp(), 5000, 'catch-up on start');
  assert.deepEqual(storedIds(db), sorted(first.map((m) => m.id)));
  assert.equal(one.seen.length, 5);
  await one.src.stop();

  // listci is down: two more arrive, then a new process starts from the recorded mark.
  const later = ['f', 'g'].map(mail);
  for (const m of later) await d.append(m.raw);
  const two = source(t, d, db);
  await within(two.src.caughtUp(), 5000, 'catch-up after restart');

  assert.deepEqual(storedIds(db), sorted([...first, ...later].map((m) => m.id)));
  assert.deepEqual(
    two.seen.map((s) => [s.messageId, s.inserted]),
    later.map((m) => [m.id, true]),
    'after a restart only the new mails are fetched, not the whole mailbox again',
  );
  assert.equal(syncRow(db, two.src.sourceName).last_uid, 7);
});

test('mails posted before, during and after a server-side disconnect and a Dovecot restart are each ingested once', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  const all: { id: string; raw: Buffer }[] = [];
  const post = async (tag: string): Promise<void> => {
    const m = mail(tag);
    all.push(m);
    await d.append(m.raw);
  };

  await post('before-1');
  await post('before-2');
  const { src, seen } = source(t, d, db);
  await within(src.caughtUp(), 5000, 'first sync');

  await d.kick();
  await post('during-kick-1');
  await post('during-kick-2');
  await within(src.caughtUp(), 5000, 'catch-up after doveadm kick');
  await post('after-kick');

  await d.restart();
  await post('during-restart'); // right after Dovecot is back, before listci has reconnected
  await within(src.caughtUp(), 5000, 'catch-up after Dovecot restart');
  await post('after-restart');
  await within(src.caughtUp(), 5000, 'final sync');

  assert.deepEqual(storedIds(db), sorted(all.map((m) => m.id)));
  assert.equal(seen.length, all.length, 'no mail was fetched twice');
  assert.ok(
    seen.every((s) => s.inserted),
    'every fetched mail was new',
  );
  assert.equal(syncRow(db, src.sourceName).last_uid, all.length);
});

test('a first sync of a big list archive (250 mails, more than one FETCH batch) stores each mail once', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  const archive = Array.from({ length: 250 }, (_, i) => mail(`archive-${i}`));
  const admin = await adminClient(d);
  const t0 = Date.now();
  for (const m of archive) await admin.append('INBOX', m.raw);
  await admin.logout();
  t.diagnostic(`250 APPENDs on one connection: ${Date.now() - t0} ms`);

  const t1 = Date.now();
  const { src, seen } = source(t, d, db);
  await within(src.caughtUp(), 15000, 'first sync of 250 mails');
  t.diagnostic(`first sync of 250 mails: ${Date.now() - t1} ms`);

  assert.deepEqual(storedIds(db), sorted(archive.map((m) => m.id)));
  assert.equal(seen.length, 250, 'each mail fetched once');
  assert.equal(syncRow(db, src.sourceName).last_uid, 250);
});

test('a recreated mailbox (new UIDVALIDITY) is read again: re-posted mails are not duplicated, new ones arrive', async (t) => {
  const d = await dovecot(t, ['xen-devel']);
  const db = database(t);
  const [a, b, c, dd, e] = ['a', 'b', 'c', 'd', 'e'].map(mail) as [
    ReturnType<typeof mail>,
    ...ReturnType<typeof mail>[],
  ];
  for (const m of [a, b!, c!]) await d.append(m.raw, 'xen-devel');
  const { src, seen } = source(t, d, db, 'xen-devel');
  await within(src.caughtUp(), 5000, 'first sync');
  const before = syncRow(db, src.sourceName);
  assert.equal(before.last_uid, 3);

  const admin = await adminClient(d);
  await admin.mailboxDelete('xen-devel');
  await admin.mailboxCreate('xen-devel');
  await admin.logout();
  for (const m of [b!, c!, dd!, e!]) await d.append(m.raw, 'xen-devel');
  seen.length = 0;
  await within(src.caughtUp(), 5000, 'sync after the mailbox was recreated');

  assert.deepEqual(storedIds(db), sorted([a, b!, c!, dd!, e!].map((m) => m.id)));
  assert.deepEqual(
    seen.map((s) => [s.messageId, s.inserted]),
    [
      [b!.id, false],
      [c!.id, false],
      [dd!.id, true],
      [e!.id, true],
    ],
    'the recreated mailbox is read from its first UID; known Message-IDs are not stored again',
  );
  const afterRow = syncRow(db, src.sourceName);
  assert.notEqual(afterRow.uidvalidity, before.uidvalidity);
  assert.equal(afterRow.last_uid, 4);
});

test('the reply outbox can tell over IMAP whether its reply already reached the list', async (t) => {
  const d = await dovecot(t);
  const m = mail('reply');
  await d.append(m.raw);
  const box = {
    host: d.host,
    port: d.port,
    secure: false,
    user: d.user,
    password: d.password,
    mailbox: 'INBOX',
  };

  assert.equal(await findMessageIdOverImap(box, m.id), true);
  assert.equal(await findMessageIdOverImap(box, `<${m.id}>`), true, 'angle brackets are accepted');
  assert.equal(await findMessageIdOverImap(box, 'never-sent@listci.example'), false);
  assert.equal(await findMessageIdOverImap(box, m.id.slice(1)), false, 'a part of an id is not a match');
});
