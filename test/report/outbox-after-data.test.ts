import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { findMessageIdOverImap, type ImapMailboxOptions } from '../../src/ingest/imap-search.ts';
import { deliverPending, type DeliverOptions } from '../../src/report/outbox.ts';
import { queueReply } from '../../src/report/reply.ts';
import { startDovecot, withClient, type Dovecot } from '../helpers/dovecot.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { fixture, queueOptions, replyConfig, tempDb, type TempDb } from './support.ts';

// The SMTP session fails after the server was handed the whole reply: a 421 to the end of
// DATA, a connection dropped with no answer, no answer before the timeout. The server may
// have delivered it (the list has it) or not; either way the list must get it exactly once.

let dovecot: Dovecot;
let smtp: TestSmtp;
let t: TempDb;
let list: ImapMailboxOptions;
before(async () => {
  dovecot = await startDovecot();
  smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw) });
  list = {
    host: dovecot.host,
    port: dovecot.port,
    secure: false,
    user: dovecot.user,
    password: dovecot.password,
    mailbox: 'INBOX',
  };
});
after(async () => {
  await smtp.stop();
  await dovecot.stop();
});
beforeEach(() => {
  t = tempDb();
  smtp.reset();
});
afterEach(() => t.cleanup());

const t0 = Date.parse('2024-03-01T10:30:00.000Z');
const minutes = (n: number) => new Date(t0 + n * 60_000);

const reply = () =>
  t.db.prepare('SELECT id, state, attempts, last_error, message_id FROM replies WHERE run_id = 1').get() as {
    id: number;
    state: string;
    attempts: number;
    last_error: string | null;
    message_id: string;
  };

async function queue(): Promise<number> {
  const q = await queueReply(
    t.db,
    queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()),
  );
  return q.replyId;
}

function copiesOnTheList(messageId: string): Promise<number> {
  return withClient(dovecot, async (c) => {
    await c.mailboxOpen('INBOX');
    const uids = await c.search({ header: { 'message-id': `<${messageId}>` } }, { uid: true });
    return uids ? uids.length : 0;
  });
}

/** The real lookup in the list's mailbox, recording each answer and how many sends the server had seen by then. */
function recordedLookup() {
  const lookups: { found: boolean; sendsBefore: number }[] = [];
  const real = (messageId: string) => findMessageIdOverImap(list, messageId);
  const imapCheck = async (messageId: string) => {
    const found = await real(messageId);
    lookups.push({ found, sendsBefore: smtp.dataEnds() });
    return found;
  };
  return { lookups, imapCheck };
}

const deliver = (at: Date, over: DeliverOptions = {}) =>
  deliverPending(t.db, {
    smtp: { host: smtp.host, port: smtp.port, secure: false, user: null, password: null },
    now: at,
    ...over,
  });

for (const answer of ['421', 'drop'] as const) {
  const how = answer === '421' ? 'answered 421 to the end of DATA' : 'dropped the connection after DATA';
  test(`the server took the reply and ${how}: it is found on the list and not sent again`, async () => {
    const id = await queue();
    const { lookups, imapCheck } = recordedLookup();
    smtp.failAfterData({ answer, deliver: true });
    const first = await deliver(minutes(0), { imapCheck });
    assert.deepEqual([first.waiting, first.retrying, first.sent], [[id], [], []], 'maybe sent: not retried');
    assert.equal(reply().state, 'sending', 'still in flight');
    assert.ok(reply().last_error, 'the failure is recorded');

    smtp.failAfterData(null); // a re-send would now go through and show up as a second copy
    const second = await deliver(minutes(1), { imapCheck });
    assert.deepEqual(second.foundInMailbox, [id]);
    assert.deepEqual(lookups, [{ found: true, sendsBefore: 1 }]);
    assert.equal(reply().state, 'sent');
    assert.equal(reply().attempts, 1);

    await deliver(minutes(60), { imapCheck });
    assert.equal(smtp.dataEnds(), 1, 'the server was handed the reply once');
    assert.equal(await copiesOnTheList(reply().message_id), 1, 'the list has it once');
  });
}

test('a 451 to the end of DATA is the server refusing the reply: retried at once, with no lookup, and sent once', async () => {
  const id = await queue();
  const { lookups, imapCheck } = recordedLookup();
  smtp.failAfterData({ answer: '451', deliver: false });
  const first = await deliver(minutes(0), { imapCheck });
  assert.deepEqual([first.retrying, first.waiting], [[id], []], 'not "maybe sent"');
  smtp.failAfterData(null);
  const second = await deliver(minutes(5), { imapCheck });
  assert.deepEqual(second.sent, [id]);
  assert.deepEqual(lookups, [], 'nothing to look up: the server said it did not take it');
  assert.equal(await copiesOnTheList(reply().message_id), 1);
});

test('no answer to the end of DATA before the timeout (the server took it): found on the list, not sent again', async () => {
  const id = await queue();
  const { imapCheck } = recordedLookup();
  smtp.holdDataEnd(5000);
  const first = await deliver(minutes(0), { imapCheck, socketTimeoutMs: 300 });
  assert.deepEqual(first.waiting, [id]);
  assert.match(reply().last_error!, /timeout/i);
  smtp.holdDataEnd(null);

  assert.deepEqual((await deliver(minutes(1), { imapCheck })).foundInMailbox, [id]);
  assert.equal(reply().state, 'sent');
  assert.equal(smtp.dataEnds(), 1);
  assert.equal(await copiesOnTheList(reply().message_id), 1);
});

test('the server lost the reply after DATA: the lookup finds nothing, and it is sent once, after the grace period', async () => {
  const id = await queue();
  const { lookups, imapCheck } = recordedLookup();
  smtp.failAfterData({ answer: '421', deliver: false });
  assert.deepEqual((await deliver(minutes(0), { imapCheck })).waiting, [id]);
  smtp.failAfterData(null);

  // The list may just be slow: within the grace period (15 min) nothing is sent.
  assert.deepEqual((await deliver(minutes(1), { imapCheck })).waiting, [id]);
  assert.equal(smtp.dataEnds(), 1);

  const late = await deliver(minutes(16), { imapCheck });
  assert.deepEqual(late.sent, [id]);
  assert.deepEqual(
    lookups,
    [
      { found: false, sendsBefore: 1 },
      { found: false, sendsBefore: 1 },
    ],
    'looked for on the list each time before the second send',
  );
  assert.equal(reply().state, 'sent');
  assert.equal(reply().attempts, 2);
  assert.equal(smtp.dataEnds(), 2);
  assert.equal(await copiesOnTheList(reply().message_id), 1, 'the list has it once');
});

test('a timeout before DATA is an ordinary retry: the reply was never handed over', async () => {
  const id = await queue();
  const { lookups, imapCheck } = recordedLookup();
  smtp.holdMailFrom(5000);
  const first = await deliver(minutes(0), { imapCheck, socketTimeoutMs: 300 });
  assert.deepEqual([first.retrying, first.waiting], [[id], []]);
  assert.equal(reply().state, 'pending');
  smtp.holdMailFrom(null);
  assert.deepEqual((await deliver(minutes(1), { imapCheck })).sent, [id]);
  assert.deepEqual(lookups, [], 'nothing to look for');
  assert.equal(await copiesOnTheList(reply().message_id), 1);
});

test('a reply lost after DATA at every attempt ends failed after maxAttempts, not in a loop', async () => {
  const id = await queue();
  const { imapCheck } = recordedLookup();
  const backoff = { baseMs: 60_000, maxMs: 3600_000, maxAttempts: 2 };
  smtp.failAfterData({ answer: 'drop', deliver: false });
  assert.deepEqual((await deliver(minutes(0), { imapCheck, backoff })).waiting, [id]);
  assert.deepEqual((await deliver(minutes(16), { imapCheck, backoff })).waiting, [id]);
  const last = await deliver(minutes(32), { imapCheck, backoff });
  assert.deepEqual(last.failed, [id]);
  assert.equal(reply().state, 'failed');
  assert.match(reply().last_error!, /2 attempts, none confirmed by the SMTP server/);
  await deliver(minutes(120), { imapCheck, backoff });
  assert.equal(smtp.dataEnds(), 2);
});

test('with no IMAP mailbox to look in, a reply that failed after DATA is marked failed, never sent twice', async () => {
  const id = await queue();
  smtp.failAfterData({ answer: 'drop', deliver: true });
  const first = await deliver(minutes(0));
  assert.deepEqual(first.failed, [id]);
  assert.equal(reply().state, 'failed');
  assert.match(reply().last_error!, /^may have been sent: .* no IMAP mailbox is configured/);

  smtp.failAfterData(null);
  await deliver(minutes(16));
  await deliver(minutes(120));
  assert.equal(smtp.dataEnds(), 1, 'not sent again');
  assert.equal(
    await copiesOnTheList(reply().message_id),
    1,
    'the copy the server did deliver is the only one',
  );
});
