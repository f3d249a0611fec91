import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { simpleParser, type AddressObject } from 'mailparser';
import { isListciMail } from '../../src/contract.ts';
import { findMessageIdOverImap } from '../../src/ingest/imap-search.ts';
import { deliverPending } from '../../src/report/outbox.ts';
import { queueReply } from '../../src/report/reply.ts';
import { mailboxContents, startDovecot, type Dovecot } from '../helpers/dovecot.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { fixture, LIST, queueOptions, replyConfig, tempDb, type TempDb } from './support.ts';

// The list loop: listci's reply goes to SMTP, the "list" delivers it into the mailbox
// listci reads (Dovecot), and listci must recognise the copy it reads back as its own.

let dovecot: Dovecot;
let smtp: TestSmtp;
let t: TempDb;
before(async () => {
  dovecot = await startDovecot();
  smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw) });
  t = tempDb();
});
after(async () => {
  t.cleanup();
  await smtp.stop();
  await dovecot.stop();
});

const addrs = (a: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address ?? ''));

const fetchAll = (): Promise<Buffer[]> => mailboxContents(dovecot);

test('the reply read back from the list is threaded under the series, marked as ours, to author + list only', async () => {
  const opts = queueOptions(7, fixture('fail-two-new-duplicates-clang.json'), replyConfig());
  const q = await queueReply(t.db, opts);
  const imap = {
    host: dovecot.host,
    port: dovecot.port,
    secure: false,
    user: dovecot.user,
    password: dovecot.password,
    mailbox: 'INBOX',
  };
  assert.equal(await findMessageIdOverImap(imap, q.messageId), false, 'not on the list before it is sent');

  const report = await deliverPending(t.db, {
    smtp: { host: smtp.host, port: smtp.port, secure: false, user: null, password: null },
  });
  assert.deepEqual(report.sent, [q.replyId]);

  const copies = await fetchAll();
  assert.equal(copies.length, 1);
  const mail = await simpleParser(copies[0]!);
  assert.equal(mail.messageId, `<${q.messageId}>`);
  assert.equal(mail.subject, 'Re: [PATCH v2 0/3] xen/x86: split hvm cpu callbacks');
  assert.equal(mail.inReplyTo, '<20240301101500.7-1-jane@example.org>');
  assert.deepEqual(mail.references, [
    '<20240220090000.1111-1-jane@example.org>',
    '<20240301101500.7-1-jane@example.org>',
  ]);
  assert.equal(mail.headers.get('x-listci-run'), '7');
  assert.equal(mail.headers.get('auto-submitted'), 'auto-generated');
  assert.deepEqual(addrs(mail.to), ['jane@example.org']);
  assert.deepEqual(addrs(mail.cc), [LIST]);
  assert.deepEqual(smtp.received[0]!.envelope.to, ['jane@example.org', LIST]);
  assert.ok(isListciMail(mail.headers.keys()), 'listci must see its own reply as its own');
  assert.equal(
    await findMessageIdOverImap(imap, q.messageId),
    true,
    'the in-flight check finds it by Message-ID',
  );
});
