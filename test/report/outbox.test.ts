import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { backoffDelay } from '../../src/backoff.ts';
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

const smtpConfig = () => ({ host: smtp.host, port: smtp.port, secure: false, user: null, password: null });
const backoff = { baseMs: 60_000, maxMs: 3600_000, maxAttempts: 5 };
const reply = (runId = 1) =>
  t.db
    .prepare(
      'SELECT state, attempts, last_error, next_attempt_at, sent_at, raw FROM replies WHERE run_id = ?',
    )
    .get(runId) as {
    state: string;
    attempts: number;
    last_error: string | null;
    next_attempt_at: string | null;
    sent_at: string | null;
    raw: Buffer;
  };

test('the bytes the SMTP server receives are exactly the recorded reply, to author and list only', async () => {
  await queueReply(t.db, queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()));
  const report = await deliverPending(t.db, { smtp: smtpConfig() });
  assert.deepEqual(report.sent, [1]);
  assert.equal(smtp.received.length, 1);
  const got = smtp.received[0]!;
  assert.ok(got.raw.equals(reply().raw), 'received bytes differ from the recorded ones');
  assert.deepEqual(got.envelope, { from: 'listci@ci.example.org', to: ['jane@example.org', LIST] });
  assert.equal(reply().state, 'sent');
  assert.equal(t.db.prepare('SELECT reply_sent_at FROM runs WHERE id = 1').pluck().get(), reply().sent_at);
  // A second pass sends nothing more.
  assert.deepEqual((await deliverPending(t.db, { smtp: smtpConfig() })).sent, []);
  assert.equal(smtp.received.length, 1);
});

test('SMTP refusing during the send: retried with backoff, sent exactly once when it returns', async () => {
  await queueReply(t.db, queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()));
  const t0 = Date.parse('2024-03-01T10:30:00.000Z');
  const at = (ms: number) => new Date(t0 + ms);
  smtp.refuse({ code: 421 });
  assert.deepEqual((await deliverPending(t.db, { smtp: smtpConfig(), backoff, now: at(0) })).retrying, [1]);
  assert.equal(reply().attempts, 1);
  assert.equal(reply().state, 'pending');
  assert.equal(reply().next_attempt_at, at(60_000).toISOString());
  assert.ok(reply().last_error, 'the refusal is recorded');

  // Not due yet: no attempt, however often the daemon asks.
  await deliverPending(t.db, { smtp: smtpConfig(), backoff, now: at(30_000) });
  assert.equal(reply().attempts, 1);

  smtp.refuse({ code: 451 }); // now refusing at MAIL FROM instead of at connect
  assert.deepEqual(
    (await deliverPending(t.db, { smtp: smtpConfig(), backoff, now: at(60_000) })).retrying,
    [1],
  );
  assert.equal(reply().attempts, 2);
  assert.match(reply().last_error!, /^451 /);
  assert.equal(
    reply().next_attempt_at,
    at(60_000 + 120_000).toISOString(),
    'the second wait is twice the first',
  );

  smtp.accept();
  assert.deepEqual((await deliverPending(t.db, { smtp: smtpConfig(), backoff, now: at(180_000) })).sent, [1]);
  assert.equal(reply().attempts, 3);
  assert.equal(reply().state, 'sent');
  await deliverPending(t.db, { smtp: smtpConfig(), backoff, now: at(3600_000) });
  assert.equal(smtp.received.length, 1, 'exactly one copy reached the server');
});

test('after the last allowed attempt the reply is marked failed, with the error', async () => {
  await queueReply(t.db, queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig()));
  smtp.refuse({ code: 451 });
  const b = { baseMs: 1000, maxMs: 1000, maxAttempts: 2 };
  const t0 = Date.parse('2024-03-01T10:30:00.000Z');
  await deliverPending(t.db, { smtp: smtpConfig(), backoff: b, now: new Date(t0) });
  const last = await deliverPending(t.db, { smtp: smtpConfig(), backoff: b, now: new Date(t0 + 1000) });
  assert.deepEqual(last.failed, [1]);
  assert.equal(reply().state, 'failed');
  assert.match(reply().last_error!, /451/);
  assert.equal(smtp.received.length, 0);
});

test('backoff doubles from the base and stops at the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((n) => backoffDelay(n, { baseMs: 60_000, maxMs: 300_000 })),
    [60_000, 120_000, 240_000, 300_000, 300_000],
  );
});
