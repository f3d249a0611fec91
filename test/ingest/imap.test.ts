import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { ImapFlow } from 'imapflow';
import pino from 'pino';
import { openDb, type Database } from '../../src/db/open.ts';
import { ImapSource } from '../../src/ingest/imap.ts';
import { STORE_ATTEMPTS } from '../../src/ingest/imap-progress.ts';
import { findMessageIdOverImap } from '../../src/ingest/imap-search.ts';
import type { StoredMessage } from '../../src/ingest/store.ts';
import { createLogger, silentLogger, type Logger } from '../../src/log.ts';
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
function source(t: TestContext, d: Dovecot, db: Database, mailbox = 'INBOX', over: { log?: Logger } = {}) {
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
    backoff: { baseMs: 50, maxMs: 400 },
    ...over,
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

/**
 * Makes the INSERT of the mail with this Message-ID fail for real, inside SQLite, as a blob
 * over the size limit would: at every attempt, or at the first two only. Counts attempts.
 */
function failStoring(db: Database, messageId: string, failing: 'always' | 'twice'): { attempts: number } {
  const counter = { attempts: 0 };
  db.function('listci_test_store_attempt', () => ++counter.attempts);
  const when = failing === 'always' ? '> 0' : '<= 2';
  db.exec(`CREATE TRIGGER listci_test_poison BEFORE INSERT ON messages WHEN NEW.message_id = '${messageId}'
           BEGIN SELECT RAISE(ABORT, 'database or disk is full') WHERE listci_test_store_attempt() ${when}; END`);
  return counter;
}

const stubs = (db: Database) =>
  db
    .prepare(
      `SELECT message_id, synthetic_id, raw, size, kind, kind_reason, error FROM messages
       WHERE message_id LIKE 'listci-unstored-%@stub'`,
    )
    .all() as {
    message_id: string;
    synthetic_id: number;
    raw: Buffer;
    size: number;
    kind: string;
    kind_reason: string;
    error: string;
  }[];

test('a mail that can never be stored is kept as a stub after 3 attempts, and every mail after it is stored once', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  const poison = mail('poison');
  const counter = failStoring(db, poison.id, 'always');
  const before = ['good-1', 'good-2'].map(mail);
  const after = ['good-3', 'good-4'].map(mail);
  for (const m of [...before, poison, ...after]) await d.append(m.raw);

  const { src, seen } = source(t, d, db);
  await within(src.caughtUp(), 10_000, 'sync past the mail that cannot be stored');
  const late = mail('good-5');
  await d.append(late.raw);
  await within(src.caughtUp(), 5000, 'sync of a mail posted afterwards');
  await within(src.caughtUp(), 5000, 'one more pass');

  assert.equal(counter.attempts, STORE_ATTEMPTS, 'tried 3 times, then never again');
  const good = [...before, ...after, late];
  assert.deepEqual(
    seen.map((s) => [s.messageId, s.inserted]),
    good.map((m) => [m.id, true]),
    'every good mail is stored once, in order; the stub is not handed on',
  );
  const [stub, ...more] = stubs(db);
  assert.ok(stub && more.length === 0, 'one stub');
  assert.equal(stub.kind, 'malformed');
  assert.match(
    stub.kind_reason,
    new RegExp(
      `^listci could not store this mail \\(UID 3, UIDVALIDITY \\d+ of ${src.sourceName.replace(/[.]/g, '\\.')}, ${poison.raw.length} bytes\\) after 3 attempts`,
    ),
  );
  assert.match(stub.error, /database or disk is full/);
  assert.equal(stub.size, poison.raw.length, 'the size of the mail itself');
  const header = stub.raw.toString('latin1');
  assert.ok(header.includes(`Message-Id: <${poison.id}>`), 'its header names the lost mail');
  assert.ok(!header.includes('diff --git'), 'the body is not kept');
  assert.deepEqual(storedIds(db), sorted([...good.map((m) => m.id), stub.message_id]));
  assert.equal(syncRow(db, src.sourceName).last_uid, 6);

  // A restart goes on from the mark: the mail is not tried again, nothing is stored twice.
  await src.stop();
  const again = source(t, d, db);
  await within(again.src.caughtUp(), 5000, 'sync after a restart');
  assert.equal(counter.attempts, STORE_ATTEMPTS);
  assert.deepEqual(again.seen, []);
});

test('a mail whose store fails twice and then works is stored itself, not as a stub', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  const flaky = mail('flaky');
  const counter = failStoring(db, flaky.id, 'twice');
  const next = mail('after-flaky');
  await d.append(flaky.raw);
  await d.append(next.raw);

  const { src, seen } = source(t, d, db);
  await within(src.caughtUp(), 10_000, 'sync through two failed attempts');
  assert.equal(counter.attempts, 3);
  assert.deepEqual(
    seen.map((s) => s.messageId),
    [flaky.id, next.id],
  );
  assert.deepEqual(stubs(db), []);
});

test('a database held by another writer is waited out, however many attempts it takes: no mail becomes a stub for it', async (t) => {
  const d = await dovecot(t);
  const db = database(t);
  db.pragma('busy_timeout = 20');
  const warnings: string[] = [];
  const capture = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const { src, seen } = source(t, d, db, 'INBOX', { log: capture });
  await within(src.caughtUp(), 5000, 'first sync of an empty INBOX');

  // Another process (a `listci ingest` of a big archive, an operator's sqlite3) holds the write lock.
  const other = new BetterSqlite3(db.name);
  other.exec('BEGIN IMMEDIATE');
  const m = mail('while-locked');
  await d.append(m.raw);
  const deadline = Date.now() + 10_000;
  const busy = () => warnings.filter((w) => /database is locked/.test(w)).length;
  while (busy() <= STORE_ATTEMPTS + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(busy() > STORE_ATTEMPTS + 1, `only ${busy()} attempts hit the lock`);
  other.exec('COMMIT');
  other.close();

  await within(src.caughtUp(), 5000, 'sync once the lock is gone');
  assert.deepEqual(storedIds(db), [m.id]);
  assert.deepEqual(
    seen.map((s) => s.messageId),
    [m.id],
  );
  assert.deepEqual(stubs(db), []);
});
