import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseConfig, withSecrets } from '../../src/config/load.ts';
import { XEN_DEVEL_ADDRESSES, XEN_DEVEL_SUBJECT_PREFIX } from '../../src/config/schema.ts';
import { mailSourceFor } from '../../src/daemon/sources.ts';
import { openDb, type Database } from '../../src/db/open.ts';
import { MaildirReader } from '../../src/ingest/maildir.ts';
import { silentLogger } from '../../src/log.ts';

const cfg = {
  list: { name: 'xen-devel', addresses: XEN_DEVEL_ADDRESSES, subjectPrefix: XEN_DEVEL_SUBJECT_PREFIX },
  series: { groupWindowMinutes: 120 },
};

/** A Maildir and a database of its own, removed after the test. */
function maildir(t: TestContext): { dir: string; db: Database } {
  const dir = mkdtempSync(join(tmpdir(), 'listci-maildir-test-'));
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(dir, sub));
  const db = openDb(join(dir, 'listci.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, db };
}

let seq = 0;
/** A patch mail as a delivery agent writes it: into new/ (or `sub`), under a unique name. */
function deliver(dir: string, sub: 'new' | 'cur' = 'new', flags = ''): { name: string; id: string } {
  const n = seq++;
  const id = `2024030110${String(n).padStart(4, '0')}.1-jane@example.org`;
  const name = `${1709287200 + n}.M${n}P4242.mx.example.org${flags}`;
  writeFileSync(
    join(dir, sub, name),
    [
      'From: Jane Doe <jane@example.org>',
      'To: xen-devel@lists.xenproject.org',
      `Subject: [PATCH] xen/x86: fix thing ${n}`,
      'Date: Fri, 1 Mar 2024 10:00:00 +0000',
      `Message-ID: <${id}>`,
      '',
      'Signed-off-by: Jane Doe <jane@example.org>',
      '---',
      `diff --git a/xen/arch/x86/f${n}.c b/xen/arch/x86/f${n}.c`,
      '--- a/xen/arch/x86/f.c',
      '+++ b/xen/arch/x86/f.c',
      '@@ -1,1 +1,2 @@',
      ' int x;',
      `+int y${n};`,
      '',
    ].join('\n'),
  );
  return { name, id };
}

/**
 * As if the last change to new/ and cur/ were long ago: the reader may then trust their
 * mtime. Always the same instant, so that settling twice leaves the mtime as it was.
 */
function settle(dir: string): void {
  const past = new Date('2024-03-01T09:00:00Z');
  for (const sub of ['new', 'cur']) utimesSync(join(dir, sub), past, past);
}

const rows = (db: Database): number => db.prepare('SELECT count(*) FROM messages').pluck().get() as number;

test('a poll over 2,000 stored mails reads no file; mail delivered since is read, stored once and moved to cur/', (t) => {
  const { dir, db } = maildir(t);
  for (let i = 0; i < 2000; i++) deliver(dir);
  const reader = new MaildirReader(db, dir, cfg);
  const first = reader.scan();
  assert.deepEqual([first.messages, first.stored, first.moved], [2000, 2000, 2000]);
  assert.deepEqual(readdirSync(join(dir, 'new')), []);

  // Just after its own moves the reader lists cur/ again, but opens nothing it stored.
  let t0 = performance.now();
  const relisted = reader.scan();
  const relistMs = performance.now() - t0;
  assert.deepEqual([relisted.messages, relisted.stored, relisted.duplicates], [0, 0, 0]);

  settle(dir);
  reader.scan(); // takes the settled mtimes
  const idleMs: number[] = [];
  let idle = relisted;
  for (let i = 0; i < 5; i++) {
    t0 = performance.now();
    idle = reader.scan();
    idleMs.push(performance.now() - t0);
  }
  assert.deepEqual([idle.messages, idle.stored], [0, 0], 'an idle poll reads no mail');
  t.diagnostic(
    `2,000 stored mails: idle polls ${idleMs.map((ms) => ms.toFixed(2)).join(', ')} ms; just after a change ${relistMs.toFixed(1)} ms`,
  );

  const fresh = [deliver(dir), deliver(dir), deliver(dir)];
  const next = reader.scan();
  assert.deepEqual([next.messages, next.stored, next.moved], [3, 3, 3], 'only the 3 new mails are read');
  assert.equal(rows(db), 2003);
  for (const f of fresh) assert.ok(readdirSync(join(dir, 'cur')).includes(`${f.name}:2,`));
});

test('mail that a mail client moved to cur/ before listci saw it is stored once; a flag change is not a new mail', (t) => {
  const { dir, db } = maildir(t);
  const reader = new MaildirReader(db, dir, cfg);
  deliver(dir);
  reader.scan();
  settle(dir);
  reader.scan();

  // The client read it in new/ first and moved it to cur/ (flag S): cur/'s mtime moves.
  const seenByClient = deliver(dir, 'cur', ':2,S');
  const s = reader.scan();
  assert.deepEqual([s.messages, s.stored], [1, 1]);
  assert.ok(db.prepare('SELECT 1 FROM messages WHERE message_id = ?').get(seenByClient.id));

  // Replied to: the client renames it to :2,RS. Same mail, same unique name.
  renameSync(
    join(dir, 'cur', seenByClient.name),
    join(dir, 'cur', seenByClient.name.replace(':2,S', ':2,RS')),
  );
  const flagged = reader.scan();
  assert.deepEqual([flagged.messages, flagged.stored], [0, 0]);
  assert.equal(rows(db), 2);
});

test('a scan that fails part-way skips nothing: the next one stores what the failed one did not', (t) => {
  const { dir, db } = maildir(t);
  const reader = new MaildirReader(db, dir, cfg, { batch: 1 });
  const mails = [deliver(dir), deliver(dir), deliver(dir)];
  // Storing the second mail fails (a full disk, say) and the scan stops there.
  db.exec(`CREATE TRIGGER full_disk BEFORE INSERT ON messages WHEN NEW.message_id = '${mails[1]!.id}'
           BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  settle(dir);
  assert.throws(() => reader.scan(), /disk is full/);
  assert.equal(rows(db), 1);

  // new/ has not changed since the failed scan listed it: only a listing kept from a
  // scan that went through may be trusted.
  settle(dir);
  db.exec('DROP TRIGGER full_disk');
  const s = reader.scan();
  assert.deepEqual([s.messages, s.stored], [2, 2]);
  assert.deepEqual(
    (db.prepare('SELECT message_id FROM messages ORDER BY id').pluck().all() as string[]).sort(),
    mails.map((m) => m.id).sort(),
  );
  assert.deepEqual(readdirSync(join(dir, 'new')), []);
});

test('after a restart the Maildir is read whole once more and nothing is stored twice', (t) => {
  const { dir, db } = maildir(t);
  for (let i = 0; i < 5; i++) deliver(dir);
  deliver(dir, 'cur', ':2,S');
  assert.equal(new MaildirReader(db, dir, cfg).scan().stored, 6);
  const again = new MaildirReader(db, dir, cfg).scan();
  assert.deepEqual([again.messages, again.stored, again.duplicates], [6, 0, 6]);
  assert.equal(rows(db), 6);
});

test("the daemon's Maildir source wakes the daemon only when a poll stored mail", async (t) => {
  const { dir, db } = maildir(t);
  const config = parseConfig(
    { mail: { source: { type: 'maildir', path: dir, pollSeconds: 3600 } } },
    { source: 'test', baseDir: dir },
  );
  let wakes = 0;
  const source = mailSourceFor(withSecrets(config, {}), db, silentLogger, () => wakes++);
  source.start();
  t.after(() => source.stop());
  deliver(dir);
  await source.caughtUp();
  assert.deepEqual([rows(db), wakes], [1, 1]);
  await source.caughtUp();
  await source.caughtUp();
  assert.deepEqual([rows(db), wakes], [1, 1], 'idle polls neither store nor wake');
});
