import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { Dovecot } from '../helpers/dovecot.ts';
import { tempDir } from '../helpers/cli.ts';
import { publicInboxMissing, startPublicInbox, type TestInbox } from '../helpers/public-inbox.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import {
  assertOneCorrectReplyPerSeries,
  DEMO_MAILS,
  killDaemon,
  killLeftoverDaemons,
  newCase,
  startDaemon,
  stopDaemon,
  waitFor,
  waitForReplies,
  type Case,
  type World,
} from './harness.ts';

// `listci daemon` with no mailbox at all: it follows the list's public-inbox archive over
// HTTP (a real public-inbox-httpd), and the SMTP server relays each reply into that archive
// (public-inbox-mda), as xen-devel's Mailman and lore do. Each test has its own archive:
// both post the same demo series.

const ROOT = new URL('../../', import.meta.url).pathname;
const skip = skipUnlessCi(publicInboxMissing());

let smtp: TestSmtp;
let inbox: TestInbox | null = null;
let repoDir: string;
let world: World;
let c: Case | null = null;
before(async () => {
  if (skip) return;
  repoDir = tempDir('listci-pi-daemon-');
  execFileSync('bash', [join(ROOT, 'demo/make-repo.sh'), join(repoDir, 'upstream')], { stdio: 'ignore' });
  smtp = await startSmtp({
    relay: async (m) => {
      if (!inbox) throw new Error('no archive to relay to');
      await inbox.deliver(m.raw);
    },
  });
  // The harness's world, with no IMAP server: the case's mail source is replaced below.
  const noImap = { host: '127.0.0.1', port: 1, user: 'none', password: 'none' } as Dovecot;
  world = {
    dovecot: noImap,
    smtp,
    repo: join(repoDir, 'upstream'),
    relayTo: { mailbox: 'unused' },
    stop: async () => {},
  };
});
after(async () => {
  await killLeftoverDaemons();
  await smtp?.stop();
  if (repoDir) rmSync(repoDir, { recursive: true, force: true });
});
afterEach(async () => {
  await killLeftoverDaemons();
  c?.cleanup();
  c = null;
  await inbox?.stop();
  inbox = null;
});

async function setup(name: string): Promise<{ c: Case; inbox: TestInbox }> {
  inbox = await startPublicInbox({ name: 'demo-devel' });
  smtp.reset();
  c = newCase(world, name);
  const config = JSON.parse(readFileSync(c.config, 'utf8')) as { mail: unknown };
  config.mail = { source: { type: 'public-inbox', url: inbox.url, pollSeconds: 1, since: '3650d' } };
  writeFileSync(c.config, JSON.stringify(config, null, 2));
  return { c, inbox };
}

const countOf = (c: Case, sql: string): number => (c.db().prepare(sql).get() as { n: number }).n;

test(
  'a series posted while listci follows the archive is checked once and replied to once',
  { skip },
  async () => {
    const { c, inbox } = await setup('pi-happy');
    const d = startDaemon(c);
    for (const m of DEMO_MAILS) await inbox.deliver(m);
    await waitForReplies(world, c, 2, 90_000);
    // Its own replies come back through the archive: they must not start anything.
    await waitFor(
      () => countOf(c, `SELECT count(*) AS n FROM messages WHERE own = 1`) === 2,
      'both replies read back from the archive',
      30_000,
      d.output,
    );
    assert.equal((await stopDaemon(d)).code, 0);
    assertOneCorrectReplyPerSeries(world, c);
    assert.equal(smtp.received.length, 2, 'two replies, no more');
  },
);

test('mail posted while the daemon is down is picked up once at its start', { skip }, async () => {
  const { c, inbox } = await setup('pi-down');
  const [alice, ...bob] = DEMO_MAILS;
  const first = startDaemon(c);
  await inbox.deliver(alice!);
  await waitFor(
    () => countOf(c, `SELECT count(*) AS n FROM public_inbox_epochs`) === 1,
    "Alice's mail stored, and the daemon's position in the archive",
    30_000,
    first.output,
  );
  await stopDaemon(first);
  for (const m of bob) await inbox.deliver(m); // Bob posts his series while listci is down
  const second = startDaemon(c);
  await waitForReplies(world, c, 2, 90_000);
  assert.equal((await stopDaemon(second)).code, 0);
  assertOneCorrectReplyPerSeries(world, c);
});

test(
  'kill -9 while a reply is with the SMTP server: found in the archive at the restart, not sent twice',
  { skip },
  async () => {
    const { c } = await setup('pi-kill-reply');
    // The server has the reply (recorded, relayed into the archive) but does not answer yet.
    smtp.holdDataEnd(60_000);
    const first = startDaemon(c);
    for (const m of DEMO_MAILS) await inbox!.deliver(m);
    await smtp.waitForMessages(1, 60_000);
    await waitFor(
      () => countOf(c, `SELECT count(*) AS n FROM replies WHERE state = 'sending'`) === 1,
      'the reply marked in flight',
      30_000,
      first.output,
    );
    await killDaemon(first);
    smtp.holdDataEnd(null);
    assert.equal(
      countOf(c, `SELECT count(*) AS n FROM replies WHERE state = 'sent'`),
      0,
      'killed before the sent mark',
    );

    const second = startDaemon(c);
    await waitForReplies(world, c, 2, 90_000);
    assert.match(
      second.output(),
      /reply was in flight when listci stopped and is in the list mailbox: marked sent/,
    );
    assert.equal((await stopDaemon(second)).code, 0);
    assertOneCorrectReplyPerSeries(world, c);
    assert.equal(smtp.received.length, 2, 'the reply in flight at the kill was not sent again');
  },
);
