import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import type { DeliveryReport } from '../../src/report/outbox.ts';
import { queueReply } from '../../src/report/reply.ts';
import { startDovecot, withClient, type Dovecot } from '../helpers/dovecot.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { fixture, queueOptions, replyConfig, tempDb, type TempDb } from './support.ts';

// listci killed (kill -9) in the middle of sending a reply, then started again: the list
// must get the reply exactly once, whether the kill came after the SMTP server had the
// message or before.

let dovecot: Dovecot;
let smtp: TestSmtp;
let t: TempDb;
before(async () => {
  dovecot = await startDovecot();
  smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw) });
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

function deliverInChild(withImap: boolean): ChildProcess & { output: Promise<string> } {
  const settings = {
    db: t.path,
    smtp: { host: smtp.host, port: smtp.port },
    imap: withImap
      ? {
          host: dovecot.host,
          port: dovecot.port,
          secure: false,
          user: dovecot.user,
          password: dovecot.password,
          mailbox: 'INBOX',
        }
      : null,
    inFlightGraceMs: 0,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/report/deliver-child.ts'], {
    env: { ...process.env, LISTCI_TEST_DELIVER: JSON.stringify(settings), LISTCI_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const output = once(child, 'exit').then(([code, signal]) => {
    if (code !== 0 && signal !== 'SIGKILL') throw new Error(`delivery child exited ${code}: ${err}`);
    return out + '\n--stderr--\n' + err;
  });
  return Object.assign(child, { output });
}

const reply = () =>
  t.db.prepare('SELECT id, state, attempts, message_id FROM replies WHERE run_id = 1').get() as {
    id: number;
    state: string;
    attempts: number;
    message_id: string;
  };

function copiesOnTheList(messageId: string): Promise<number> {
  return withClient(dovecot, async (c) => {
    await c.mailboxOpen('INBOX');
    const uids = await c.search({ header: { 'message-id': `<${messageId}>` } }, { uid: true });
    return uids ? uids.length : 0;
  });
}

async function killed(child: ChildProcess & { output: Promise<string> }) {
  child.kill('SIGKILL');
  await child.output;
}

const reportOf = (output: string): DeliveryReport => JSON.parse(output.split('\n')[0]!) as DeliveryReport;

test('killed after the server accepted the reply: the restart finds it on the list and does not resend', async () => {
  await queueReply(t.db, queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()));
  smtp.holdDataEnd(60_000);
  const first = deliverInChild(true);
  await smtp.waitForMessages(1);
  assert.equal(reply().state, 'sending', 'the attempt was committed as in flight before the bytes went out');
  await killed(first);
  smtp.holdDataEnd(null);

  const second = deliverInChild(true);
  const out = await second.output;
  assert.deepEqual(reportOf(out).foundInMailbox, [reply().id], out);
  assert.deepEqual(reportOf(out).sent, []);
  assert.equal(reply().state, 'sent');
  assert.equal(reply().attempts, 1);
  assert.equal(smtp.received.length, 1, 'the SMTP server got the reply once');
  assert.equal(await copiesOnTheList(reply().message_id), 1, 'the list has the reply once');
});

test('killed before the reply reached the server: the restart sends it, once', async () => {
  await queueReply(t.db, queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()));
  smtp.holdMailFrom(60_000);
  const first = deliverInChild(true);
  await smtp.waitForMailFrom(1);
  assert.equal(reply().state, 'sending');
  await killed(first);
  smtp.holdMailFrom(null);
  assert.equal(smtp.received.length, 0);

  const out = await deliverInChild(true).output;
  assert.deepEqual(reportOf(out).sent, [reply().id], out);
  assert.equal(reply().state, 'sent');
  assert.equal(reply().attempts, 2);
  assert.equal(smtp.received.length, 1);
  assert.equal(await copiesOnTheList(reply().message_id), 1);
});

test('without IMAP configured, a reply found in flight is sent again and the log says a duplicate is possible', async () => {
  await queueReply(t.db, queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()));
  t.db.prepare(`UPDATE replies SET state = 'sending', attempts = 1 WHERE run_id = 1`).run();
  const out = await deliverInChild(false).output;
  assert.deepEqual(reportOf(out).sent, [reply().id]);
  assert.match(out, /a duplicate is possible/);
  assert.equal(smtp.received.length, 1);
});
