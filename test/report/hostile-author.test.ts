// The reply goes to the address listci stored for the author, and only there. The author's
// name is whatever the sender wrote: `From: "v@x, b@y" <eve@z>` once came back from the
// series stage as the unquoted "v@x, b@y <eve@z>", and the SMTP envelope went to v@x while
// the web page said eve@z. These tests take such mails from ingest to a real SMTP server.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { ingestMessages } from '../../src/ingest/process.ts';
import { loadSeriesToCheck } from '../../src/series/load.ts';
import { getSeries } from '../../src/query/series-detail.ts';
import { addressOf, authorMailbox, formatMailbox, replyRecipients } from '../../src/report/message.ts';
import { deliverPending } from '../../src/report/outbox.ts';
import { queueReply } from '../../src/report/reply.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { fixture, LIST, queueOptions, replyConfig, tempDb, type TempDb } from './support.ts';

let smtp: TestSmtp;
let t: TempDb;
before(async () => (smtp = await startSmtp()));
after(() => smtp.stop());
beforeEach(() => {
  t = tempDb();
  smtp.reset();
});
afterEach(() => t.cleanup());

const cfg = {
  list: { name: 'xen-devel', addresses: [LIST] },
  series: { groupWindowMinutes: 120, maxPatches: 200 },
};
const smtpConfig = () => ({ host: smtp.host, port: smtp.port, secure: false, user: null, password: null });

const patchMail = (from: string, id: string): Buffer =>
  Buffer.from(
    [
      `From: ${from}`,
      `To: ${LIST}`,
      'Subject: [PATCH] xen/livepatch: add a verbose flag',
      'Date: Fri, 01 Mar 2024 10:15:00 +0000',
      `Message-ID: <${id}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Signed-off-by: Eve <eve@z>',
      '---',
      'diff --git a/xen/common/livepatch.c b/xen/common/livepatch.c',
      '--- a/xen/common/livepatch.c',
      '+++ b/xen/common/livepatch.c',
      '@@ -7,3 +7,4 @@ int use(void)',
      ' {',
      '     return counter;',
      ' }',
      '+static int livepatch_verbose;',
      '',
    ].join('\r\n'),
    'utf8',
  );

/** Ingests the mail, then queues and sends run 1's reply exactly as the daemon does. */
async function replyToIngested(from: string) {
  const summary = ingestMessages(t.db, [patchMail(from, 'p1@z')], 'test:hostile', cfg);
  const versionId = summary.versions[0];
  assert.ok(versionId !== undefined, JSON.stringify(summary));
  const series = loadSeriesToCheck(t.db, versionId);
  const opts = queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig());
  // worker.ts headMail: the series stage's author string goes to the reply as it is.
  opts.input.head = { ...opts.input.head, messageId: 'p1@z', references: [], author: series.author };
  const q = await queueReply(t.db, opts);
  assert.equal(q.state, 'pending', String(q.reason));
  const report = await deliverPending(t.db, { smtp: smtpConfig() });
  assert.deepEqual(report.sent, [q.replyId]);
  const [got] = await smtp.waitForMessages(1);
  const recorded = t.db.prepare('SELECT recipients FROM replies WHERE run_id = 1').pluck().get() as string;
  return { series, got: got!, parsed: await simpleParser(got!.raw), recipients: JSON.parse(recorded) };
}

test('From: "v@x, b@y" <eve@z>: the envelope is exactly eve@z and the list; To: quotes the name', async () => {
  const { series, got, parsed, recipients } = await replyToIngested('"v@x, b@y" <eve@z>');
  assert.equal(series.author, 'v@x, b@y <eve@z>', 'the series stage hands over the unquoted form');
  assert.equal(getSeries(t.db, '1')?.authorAddr, 'eve@z', 'the web page and the API name eve@z');

  assert.deepEqual(got.envelope.to, ['eve@z', LIST]);
  assert.deepEqual(recipients, { to: ['"v@x, b@y" <eve@z>'], cc: [LIST] });
  assert.match(got.raw.toString('utf8'), /^To: "v@x, b@y" <eve@z>\r$/m);
  // A mail client reading the header sees one recipient, eve, under the name as written.
  const to = Array.isArray(parsed.to) ? parsed.to : [parsed.to];
  assert.deepEqual(
    to.flatMap((a) => a?.value ?? []).map((v) => [v.name, v.address]),
    [['v@x, b@y', 'eve@z']],
  );
});

test('a name that decodes to CR LF and a Bcc: line stays one quoted name; no header is added', async () => {
  const { got, parsed } = await replyToIngested('=?utf-8?q?Eve=0D=0ABcc=3A_victim=40x?= <eve@z>');
  assert.deepEqual(got.envelope.to, ['eve@z', LIST]);
  assert.doesNotMatch(got.raw.toString('utf8'), /^Bcc:/im);
  assert.equal(parsed.bcc, undefined);
  const to = Array.isArray(parsed.to) ? parsed.to : [parsed.to];
  assert.deepEqual(
    to.flatMap((a) => a?.value ?? []).map((v) => [v.name, v.address]),
    [['Eve Bcc: victim@x', 'eve@z']],
  );
});

test('an author address that is not one plain address, or names nobody, gets no mail; nothing reaches SMTP', async () => {
  for (const [run, author] of [
    [1, 'Eve <v@x,b@y>'],
    [2, 'Eve <"v@x"@y>'],
    [3, 'unknown@invalid'],
  ] as const) {
    const q = await queueReply(
      t.db,
      queueOptions(run, fixture('fail-two-new-duplicates-clang.json'), replyConfig(), author),
    );
    assert.equal(q.state, 'suppressed', author);
    assert.match(q.reason ?? '', /no author/, author);
  }
  await deliverPending(t.db, { smtp: smtpConfig() });
  assert.equal(smtp.received.length, 0);
});

test('recipients round-trip: every written form reads back as the address it was written from', () => {
  const cases: [string, string, string][] = [
    // [series-stage author string, recorded recipient, address]
    ['Jane Doe <jane@example.org>', 'Jane Doe <jane@example.org>', 'jane@example.org'],
    [
      'Roger Pau Monné <roger.pau@citrix.com>',
      'Roger Pau Monné <roger.pau@citrix.com>',
      'roger.pau@citrix.com',
    ],
    ['jane@example.org', 'jane@example.org', 'jane@example.org'],
    ['v@x, b@y <eve@z>', '"v@x, b@y" <eve@z>', 'eve@z'],
    ['a "b" \\ c <eve@z>', '"a \\"b\\" \\\\ c" <eve@z>', 'eve@z'],
    ['<x@y> <eve@z>', '"<x@y>" <eve@z>', 'eve@z'],
    ['Eve (x@y) <eve@z>', '"Eve (x@y)" <eve@z>', 'eve@z'],
    ['=?utf-8?q?x?= <eve@z>', '"=?utf-8?q?x?=" <eve@z>', 'eve@z'],
  ];
  for (const [author, written, address] of cases) {
    const r = replyRecipients({ author, listAddress: LIST, ccList: true, cc: [] });
    assert.deepEqual(r, { to: [written], cc: [LIST] }, author);
    assert.equal(addressOf(r.to[0]!), address, author);
    assert.equal(authorMailbox(author).address, address, author);
  }
  assert.equal(formatMailbox({ name: 'x', address: 'v@x,b@y' }), null);
  assert.equal(formatMailbox({ name: 'x'.repeat(5000), address: 'eve@z' }), `${'x'.repeat(200)} <eve@z>`);
});

test('a bare CR in the series title reaches SMTP as the recorded bytes, with no bare CR left', async () => {
  const result = fixture('fail-two-new-duplicates-clang.json');
  result.series.title = 'split\rBcc: victim@x\r.\r';
  const opts = queueOptions(1, result, replyConfig());
  opts.input.head = { ...opts.input.head, subject: '[PATCH] split\rBcc: victim@x' };
  await queueReply(t.db, opts);
  await deliverPending(t.db, { smtp: smtpConfig() });
  const [got] = await smtp.waitForMessages(1);
  const raw = t.db.prepare('SELECT raw FROM replies WHERE run_id = 1').pluck().get() as Buffer;
  assert.ok(got!.raw.equals(raw), 'received bytes differ from the recorded ones');
  assert.doesNotMatch(raw.toString('latin1'), /\r(?!\n)/);
  const head = raw.toString('latin1').split('\r\n\r\n')[0]!;
  assert.doesNotMatch(head, /^Bcc:/im);
  assert.match(head, /^Subject: Re: \[PATCH\] split Bcc: victim@x\r$/m);
  assert.deepEqual(got!.envelope.to, ['jane@example.org', LIST]);
});
