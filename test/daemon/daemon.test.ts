import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertOneCorrectReplyPerSeries,
  BAD_HEAD,
  GOOD_HEAD,
  killLeftoverDaemons,
  mailboxCopies,
  newCase,
  startDaemon,
  startWorld,
  stopDaemon,
  waitForReplies,
  type World,
} from './harness.ts';

// The plain path, as a list sees it: two series posted to the list's mailbox, `listci daemon`
// watching it over IMAP, one reply per series in its thread, sent over SMTP.

let world: World;
before(async () => {
  world = await startWorld(['happy']);
});
after(async () => {
  await killLeftoverDaemons();
  await world?.stop();
});

test('a good and a bad series posted to the list each get one reply in their thread', async () => {
  const c = newCase(world, 'happy');
  world.relayTo.mailbox = c.mailbox;
  world.smtp.reset();
  try {
    const d = startDaemon(c);
    await c.append();
    await waitForReplies(world, c);
    const how = await stopDaemon(d);
    assert.equal(how.code, 0, 'SIGTERM ends the daemon with exit code 0');
    assertOneCorrectReplyPerSeries(world, c);
    const copies = await mailboxCopies(world, c.mailbox);
    const replies = [...copies.keys()].filter((id) => id.startsWith('listci-run-'));
    assert.equal(replies.length, 2, 'the list carries both replies');
    assert.ok(copies.has(GOOD_HEAD) && copies.has(BAD_HEAD));
    const own = c.db().prepare(`SELECT count(*) AS n FROM messages WHERE own = 1`).get() as { n: number };
    assert.ok(own.n <= 2, 'its own replies, read back from the list, are recognised as its own');
  } finally {
    c.cleanup();
  }
});
