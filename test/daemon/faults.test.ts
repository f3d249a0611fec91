import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import {
  assertOneCorrectReplyPerSeries,
  BAD_HEAD,
  DEMO_MAILS,
  GOOD_HEAD,
  header,
  killDaemon,
  killLeftoverDaemons,
  mailboxCopies,
  newCase,
  startDaemon,
  startWorld,
  stopDaemon,
  waitFor,
  waitForReplies,
  type Case,
  type World,
} from './harness.ts';

// Faults a listci host meets in its life, each on the same two series (a good one and one
// that adds a second util.c#parse_one): the daemon killed or stopped mid-build, killed
// mid-reply, the IMAP server restarted, the SMTP server refusing mail, the disk full.
// After each, a maintainer reading the list must see exactly one reply per series with
// the right verdict, and the database must hold every posted mail once. Last, two checks
// that never finish (one crashes the daemon, one hangs) must end as listci's own error.

const MAILBOXES = [
  'kill-build',
  'kill-reply',
  'imap-restart',
  'smtp-refuses',
  'disk-full',
  'sigterm',
  'crash-loop',
  'job-timeout',
];
let world: World;
let c: Case | null = null;
before(async () => {
  world = await startWorld(MAILBOXES);
});
after(async () => world?.stop());
afterEach(async () => {
  await killLeftoverDaemons();
  c?.cleanup();
  c = null;
});

function setup(mailbox: string, opts: Parameters<typeof newCase>[2] = {}): Case {
  c = newCase(world, mailbox, opts);
  world.relayTo.mailbox = mailbox;
  world.smtp.reset();
  return c;
}

const one = <T>(c: Case, sql: string, ...args: unknown[]): T =>
  c
    .db()
    .prepare(sql)
    .get(...args) as T;
const countOf = (c: Case, sql: string): number => one<{ n: number }>(c, sql).n;

test('kill -9 during a build: after a restart the check resumes and each series gets one reply', async () => {
  const c = setup('kill-build');
  c.setLinkSleep(3);
  const first = startDaemon(c);
  await c.append();
  await waitFor(() => c.linking(), 'a build in progress', 30_000, first.output);
  assert.equal(countOf(c, `SELECT count(*) AS n FROM runs WHERE state = 'running'`), 1);
  await killDaemon(first);
  assert.equal(world.smtp.received.length, 0, 'nothing was sent before the kill');

  c.setLinkSleep(0);
  const second = startDaemon(c);
  await second.waitForLog(/resuming checks interrupted by the last stop/);
  await waitForReplies(world, c);
  assert.equal((await stopDaemon(second)).code, 0);
  assertOneCorrectReplyPerSeries(world, c);
});

test('kill -9 while a reply is with the SMTP server: after a restart it is not sent again', async () => {
  const c = setup('kill-reply');
  // The server has the message (recorded, relayed to the list) but does not answer yet.
  world.smtp.holdDataEnd(60_000);
  const first = startDaemon(c);
  await c.append();
  await world.smtp.waitForMessages(1, 30_000);
  await waitFor(
    () => countOf(c, `SELECT count(*) AS n FROM replies WHERE state = 'sending'`) === 1,
    'the reply marked in flight',
  );
  await killDaemon(first);
  world.smtp.holdDataEnd(null);

  const second = startDaemon(c);
  await waitForReplies(world, c);
  assert.match(
    second.output(),
    /reply was in flight when listci stopped and is in the list mailbox: marked sent/,
  );
  assert.equal((await stopDaemon(second)).code, 0);
  assertOneCorrectReplyPerSeries(world, c);
  const copies = await mailboxCopies(world, c.mailbox);
  for (const [id, n] of copies) assert.equal(n, 1, `the list has ${n} copies of ${id}`);
});

test('Dovecot restarted and connections kicked while the daemon runs: every mail ingested once', async () => {
  // Bob's series arrives in pieces across the faults: it must not be checked half-seen.
  const c = setup('imap-restart', { series: { incompleteWaitMinutes: 2 } });
  const [alice, cover, patch1, patch2] = DEMO_MAILS;
  const d = startDaemon(c);
  await c.append([alice!, cover!]);
  await waitFor(
    () => countOf(c, `SELECT count(*) AS n FROM messages`) === 2,
    '2 mails stored',
    30_000,
    d.output,
  );

  await world.dovecot.restart();
  await c.append([patch1!]);
  await world.dovecot.kick();
  await c.append([patch2!]);
  await waitForReplies(world, c);
  await world.dovecot.kick(); // and once more while the replies are read back
  assert.equal((await stopDaemon(d)).code, 0);
  assertOneCorrectReplyPerSeries(world, c);
  assert.match(d.output(), /reconnecting/, 'the daemon noticed the restart');
});

test('SMTP server refusing mail (421, then 451) for a while: each reply goes out once it accepts', async () => {
  const c = setup('smtp-refuses');
  world.smtp.refuse({ code: 421 });
  const d = startDaemon(c);
  await c.append();
  const attempts = (min: number) => () =>
    countOf(c, `SELECT count(*) AS n FROM replies WHERE state = 'pending' AND attempts >= ${min}`) === 2;
  await waitFor(attempts(2), 'both replies refused twice', 40_000, d.output);
  const refused = one<{ last_error: string }>(c, `SELECT last_error FROM replies LIMIT 1`);
  // Usually "421 Invalid greeting"; the server may hang up before the client reads the 421.
  assert.match(refused.last_error, /421|connection closed/i, 'the refusal is recorded');
  world.smtp.refuse({ code: 451 });
  await waitFor(attempts(3), 'both replies refused a third time', 40_000, d.output);
  world.smtp.accept();
  await waitForReplies(world, c);
  assert.equal((await stopDaemon(d)).code, 0);
  assertOneCorrectReplyPerSeries(world, c);
});

test(
  "work dir full during a build: listci's error, never the series' fail; the retry succeeds once space is back",
  { skip: skipUnlessCi(process.getuid?.() !== 0 && 'mounting a small tmpfs needs root') },
  async () => {
    const c = setup('disk-full');
    mkdirSync(c.workDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'listci-test-full', c.workDir]);
    try {
      c.setLinkSleep(2);
      const d = startDaemon(c);
      await c.append();
      // The first build (Alice's base, into an empty build dir) is linking: the disk fills up under it.
      await waitFor(() => c.linking(), 'a link in progress', 30_000, d.output);
      const filler = join(c.workDir, 'filler');
      spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
      c.setLinkSleep(0);
      // Both series meet the full disk (Alice's in her build, Bob's wherever his check gets to).
      await waitFor(
        () =>
          countOf(
            c,
            `SELECT count(*) AS n FROM jobs WHERE state = 'queued' AND attempts >= 1
            AND lower(last_error) LIKE '%no space left on device%'`,
          ) === 2,
        "both checks failing as listci's own error",
        40_000,
        d.output,
      );
      assert.equal(
        countOf(c, `SELECT count(*) AS n FROM runs WHERE verdict = 'fail' OR verdict = 'pass'`),
        0,
      );
      assert.equal(countOf(c, `SELECT count(*) AS n FROM replies`), 0, 'no reply blames the series');
      assert.equal(world.smtp.received.length, 0);

      rmSync(filler);
      await waitForReplies(world, c, 2, 60_000);
      assert.equal((await stopDaemon(d)).code, 0);
      assertOneCorrectReplyPerSeries(world, c);
    } finally {
      await killLeftoverDaemons();
      execFileSync('umount', [c.workDir]);
    }
  },
);

test('SIGTERM during a build: the daemon stops at once with exit 0, and the restart completes the same run', async () => {
  const c = setup('sigterm');
  c.setLinkSleep(30);
  const first = startDaemon(c);
  await c.append();
  await waitFor(() => c.linking(), 'a build in progress', 30_000, first.output);
  const run = one<{ id: number }>(c, `SELECT id FROM runs WHERE state = 'running'`);
  const t0 = Date.now();
  const how = await stopDaemon(first);
  const stopMs = Date.now() - t0;
  assert.equal(how.code, 0, 'a requested stop is not a failure');
  assert.ok(stopMs < 5000, `stopped in ${stopMs} ms, not after the 30 s link`);
  assert.equal(world.smtp.received.length, 0);
  const job = one<{ state: string; attempts: number }>(
    c,
    `SELECT state, attempts FROM jobs WHERE kind = 'check' AND ref_id = ?`,
    run.id,
  );
  assert.deepEqual(
    job,
    { state: 'queued', attempts: 0 },
    'the job is back in the queue, the stop not counted',
  );
  assert.equal(one<{ state: string }>(c, `SELECT state FROM runs WHERE id = ?`, run.id).state, 'queued');

  c.setLinkSleep(0);
  const second = startDaemon(c);
  await waitForReplies(world, c);
  assert.equal((await stopDaemon(second)).code, 0);
  assertOneCorrectReplyPerSeries(world, c);
  assert.ok(
    countOf(c, `SELECT count(*) AS n FROM runs WHERE id = ${run.id} AND state = 'done'`) === 1,
    'the interrupted run itself completed',
  );
});

/** The one reply in a thread, and what it says. */
function replyTo(head: string) {
  const mails = world.smtp.received.filter(
    (m) => (header(m, 'In-Reply-To') ?? '').replace(/^<|>$/g, '') === head,
  );
  assert.equal(mails.length, 1, `series ${head}: ${mails.length} replies reached SMTP, want exactly 1`);
  return { verdict: header(mails[0]!, 'X-Listci-Verdict'), text: mails[0]!.raw.toString('utf8') };
}

/** Alice's run ended as listci's own error, with the reason, and her job is failed, not retried. */
function assertListciError(c: Case, error: string): void {
  const run = one<{ id: number; state: string; verdict: string; summary: string }>(
    c,
    `SELECT r.id, r.state, r.verdict, r.summary FROM runs r JOIN series_versions sv ON sv.id = r.version_id
      WHERE sv.head_message_id = ?`,
    GOOD_HEAD,
  );
  assert.deepEqual(
    { state: run.state, verdict: run.verdict, summary: run.summary },
    { state: 'done', verdict: 'error', summary: `error: listci failed: ${error}` },
  );
  const job = one<{ state: string; attempts: number; last_error: string }>(
    c,
    `SELECT state, attempts, last_error FROM jobs WHERE kind = 'check' AND ref_id = ?`,
    run.id,
  );
  assert.deepEqual(job, { state: 'failed', attempts: 3, last_error: error });
  assert.equal(countOf(c, `SELECT count(*) AS n FROM builds WHERE run_id = ${run.id}`), 0, 'no build judged');
  const reply = replyTo(GOOD_HEAD);
  assert.equal(reply.verdict, 'error', 'the reply says listci failed, not the series');
}

/** Bob's series, posted after, is checked as usual: the daemon was not stuck on Alice's. */
async function assertLaterSeriesChecked(c: Case, d: ReturnType<typeof startDaemon>): Promise<void> {
  const [, ...bob] = DEMO_MAILS;
  await c.append(bob);
  await waitForReplies(world, c, 2, 60_000);
  const reply = replyTo(BAD_HEAD);
  assert.equal(reply.verdict, 'fail');
  assert.match(reply.text, /util\.c#parse_one/);
  assert.equal(world.smtp.received.length, 2);
  assert.equal((await stopDaemon(d)).code, 0);
  assert.equal(countOf(c, `SELECT count(*) AS n FROM jobs WHERE kind = 'check' AND state = 'done'`), 1);
}

test("a check that kills the daemon at every attempt ends as listci's error after 3 starts, and the next series is checked", async () => {
  const c = setup('crash-loop');
  const [alice] = DEMO_MAILS;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const d = startDaemon(c);
    c.crashAtLink(d.child.pid!);
    if (attempt === 1) await c.append([alice!]);
    await waitFor(
      () => d.child.signalCode !== null,
      `start ${attempt} killed by its check`,
      60_000,
      d.output,
    );
    assert.equal((await d.exited).signal, 'SIGKILL');
    assert.deepEqual(
      one(c, `SELECT state, attempts FROM jobs WHERE kind = 'check'`),
      { state: 'running', attempts: attempt },
      'left running by the crash, the attempt counted',
    );
    assert.equal(world.smtp.received.length, 0);
  }

  c.crashAtLink(null); // it would crash again; it must not be tried again at all
  const d = startDaemon(c);
  await d.waitForLog(/checks interrupted by a crash at every attempt: failed/);
  await waitForReplies(world, c, 1);
  assertListciError(c, 'interrupted by a crash 3 times (the daemon stopped during the check each time)');
  assert.doesNotMatch(d.output(), /resuming checks interrupted/);
  await assertLaterSeriesChecked(c, d);
});

test("a check past build.jobTimeoutMinutes is listci's failed attempt, then its error; the daemon goes on", async () => {
  const c = setup('job-timeout', { build: { jobTimeoutMinutes: 0.1 } });
  const [alice] = DEMO_MAILS;
  c.setLinkSleep(120); // past build.timeoutMinutes too: only the job limit can end it in time
  const d = startDaemon(c);
  const t0 = Date.now();
  await c.append([alice!]);
  await waitFor(() => c.linking(), 'a build in progress', 30_000, d.output);
  // 3 attempts of 6 s, 10 s and 20 s apart.
  await waitForReplies(world, c, 1, 90_000);
  const took = Date.now() - t0;
  assertListciError(c, 'the check ran past build.jobTimeoutMinutes (0.1 min)');
  assert.equal(d.output().match(/check failed \(listci error\)/g)?.length, 3, 'each attempt failed once');
  assert.ok(took < 75_000, `over in ${took} ms: each attempt stopped at the limit`);

  c.setLinkSleep(0);
  await assertLaterSeriesChecked(c, d);
});
