import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { simpleParser, type AddressObject } from 'mailparser';
import { isListciMail } from '../../src/contract.ts';
import { queueReply } from '../../src/report/reply.ts';
import { AUTHOR, fixture, LIST, queueOptions, replyConfig, tempDb, type TempDb } from './support.ts';

let t: TempDb;
beforeEach(() => (t = tempDb(20)));
afterEach(() => t.cleanup());

const row = (runId: number) =>
  t.db.prepare('SELECT state, reason, recipients FROM replies WHERE run_id = ?').get(runId) as
    { state: string; reason: string | null; recipients: string } | undefined;
const addrs = (a: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address ?? ''));

test("policy 'failures' sends nothing for a passing series, but records why", async () => {
  const q = await queueReply(
    t.db,
    queueOptions(1, fixture('pass-gcc-clang.json'), replyConfig({ policy: 'failures' })),
  );
  assert.equal(q.state, 'suppressed');
  assert.deepEqual(row(1)?.state, 'suppressed');
  assert.match(row(1)!.reason!, /policy 'failures': the verdict is pass/);
  // ...and a failing one is queued for sending.
  const f = await queueReply(
    t.db,
    queueOptions(2, fixture('fail-two-new-duplicates-clang.json'), replyConfig({ policy: 'failures' })),
  );
  assert.equal(f.state, 'pending');
});

test("policy 'never' records the reply and sends nothing", async () => {
  const q = await queueReply(
    t.db,
    queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig({ policy: 'never' })),
  );
  assert.equal(q.state, 'suppressed');
  assert.equal(row(1)!.reason, "policy 'never': recorded only");
  const stored = t.db.prepare('SELECT raw FROM replies WHERE run_id = 1').get() as { raw: Buffer };
  assert.match(stored.raw.toString(), /vmx\.c#cpu_callback/, 'the reply that was not sent is kept, whole');
});

test('dry-run writes the .eml that would have been sent, threaded and marked as ours', async () => {
  const outbox = join(t.dir, 'outbox');
  const q = await queueReply(
    t.db,
    queueOptions(3, fixture('fail-two-new-duplicates-clang.json'), replyConfig({ dryRun: true, outbox })),
  );
  assert.equal(q.state, 'dry-run');
  assert.equal(q.emlPath, join(outbox, 'run-3.eml'));
  const raw = readFileSync(q.emlPath);
  const stored = t.db.prepare('SELECT raw FROM replies WHERE run_id = 3').get() as { raw: Buffer };
  assert.ok(raw.equals(stored.raw), 'the file holds exactly the recorded bytes');
  const mail = await simpleParser(raw);
  assert.equal(mail.subject, 'Re: [PATCH v2 0/3] xen/x86: split hvm cpu callbacks');
  assert.equal(mail.inReplyTo, '<20240301101500.3-1-jane@example.org>');
  assert.deepEqual(mail.references, [
    '<20240220090000.1111-1-jane@example.org>',
    '<20240301101500.3-1-jane@example.org>',
  ]);
  assert.match(mail.messageId!, /^<listci-run-3-[0-9a-f]{12}@ci\.example\.org>$/);
  assert.equal(mail.headers.get('x-listci-run'), '3');
  assert.equal(mail.headers.get('auto-submitted'), 'auto-generated');
  assert.equal(mail.headers.get('x-listci-verdict'), 'fail');
  assert.ok(isListciMail(mail.headers.keys()));
  assert.deepEqual(addrs(mail.to), ['jane@example.org']);
  assert.deepEqual(addrs(mail.cc), [LIST]);
  assert.match(mail.text!, /^FAIL: 2 new duplicate symbols under clang-14\./);
  // Readable as-is in a raw view (lore, mutt): no quoted-printable for an ASCII reply.
  assert.equal(mail.headers.get('content-transfer-encoding'), '7bit');
  assert.match(raw.toString(), /^ {2}clang-14 +FAIL +1m01s +2 +0\r$/m);
  // Once recorded, a second call for the same run changes nothing and writes nothing.
  const again = await queueReply(
    t.db,
    queueOptions(3, fixture('pass-gcc-clang.json'), replyConfig({ dryRun: true, outbox })),
  );
  assert.equal(again.inserted, false);
  assert.equal(again.emlPath, null);
  assert.equal(t.db.prepare('SELECT count(*) AS n FROM replies').pluck().get(), 1);
});

test('rate limit per author per hour holds, and other authors still get theirs', async () => {
  const cfg = replyConfig({ perAuthorPerHour: 2, perHour: 100 });
  const fail = fixture('fail-two-new-duplicates-clang.json');
  const states = [];
  for (const run of [1, 2, 3]) states.push((await queueReply(t.db, queueOptions(run, fail, cfg))).state);
  assert.deepEqual(states, ['pending', 'pending', 'suppressed']);
  assert.equal(row(3)!.reason, 'rate limit: 2 replies to jane@example.org in the last hour (limit 2)');
  const other = await queueReply(t.db, queueOptions(4, fail, cfg, 'Bob Smith <bob@example.net>'));
  assert.equal(other.state, 'pending');
  // An hour later Jane can be mailed again.
  const later = { ...queueOptions(5, fail, cfg), now: new Date('2024-03-01T11:31:00.000Z') };
  assert.equal((await queueReply(t.db, later)).state, 'pending');
});

test('rate limit per hour overall holds across authors', async () => {
  const cfg = replyConfig({ perAuthorPerHour: 10, perHour: 3 });
  const fail = fixture('fail-two-new-duplicates-clang.json');
  const states = [];
  for (const run of [1, 2, 3, 4])
    states.push(
      (await queueReply(t.db, queueOptions(run, fail, cfg, `Dev ${run} <dev${run}@example.net>`))).state,
    );
  assert.deepEqual(states, ['pending', 'pending', 'pending', 'suppressed']);
  assert.equal(row(4)!.reason, 'rate limit: 3 replies in the last hour (limit 3)');
});

test('an opted-out author gets no mail; an opted-out Cc is dropped', async () => {
  const fail = fixture('fail-two-new-duplicates-clang.json');
  const cfg = replyConfig({ optOut: ['JANE@example.org'], cc: ['Reviewer <rev@example.com>'] });
  const q = await queueReply(t.db, queueOptions(1, fail, cfg));
  assert.equal(q.state, 'suppressed');
  assert.equal(row(1)!.reason, 'opt-out: jane@example.org asked not to receive listci mail');
  const cfg2 = replyConfig({ optOut: ['rev@example.com'], cc: ['Reviewer <rev@example.com>'] });
  const q2 = await queueReply(t.db, queueOptions(2, fail, cfg2));
  assert.equal(q2.state, 'pending');
  assert.deepEqual(JSON.parse(row(2)!.recipients), { to: [AUTHOR], cc: [LIST] });
});

test("recipients are the author, the list and the configured Cc only, never the thread's Cc", async () => {
  const outbox = join(t.dir, 'outbox');
  const opts = queueOptions(
    1,
    fixture('fail-two-new-duplicates-clang.json'),
    replyConfig({ dryRun: true, outbox, cc: ['Xen CI <ci@example.org>'] }),
  );
  // The head mail Cc'd people; their addresses exist in the input but must not be copied.
  opts.input.head.references = ['random-1@example.com'];
  const q = await queueReply(t.db, opts);
  const mail = await simpleParser(readFileSync(q.emlPath!));
  const all = [...addrs(mail.to), ...addrs(mail.cc), ...addrs(mail.bcc)];
  assert.deepEqual(all, ['jane@example.org', LIST, 'ci@example.org']);
  assert.ok(!existsSync(join(outbox, 'run-2.eml')));
});
