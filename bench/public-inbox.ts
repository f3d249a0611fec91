// The public-inbox source on a real v2 archive served by public-inbox-httpd on loopback:
//   backfill  a 10,000-mail archive (2,000 series of a cover letter and 4 patches) read
//             from nothing over git smart HTTP: clone, walk, store, classify, group; messages/s
//   delay     one mail delivered with public-inbox-mda while a poller follows the archive
//             (pollSeconds 1): from mda's exit to the row in the database; median and max
// The 10,000 mails are written by bench/public-inbox-bulk.pl through public-inbox's own
// writer (PublicInbox::InboxWritable, one process, ~20 s): public-inbox-mda forks perl once
// per mail (~0.25 s each, 40 min for 10,000), so it delivers only the delay case's mails.
//
//   node --import tsx bench/public-inbox.ts [mails] [delays]     (default 10000 and 10)
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb } from '../src/db/open.ts';
import { PublicInboxPoller, PublicInboxReader } from '../src/ingest/public-inbox.ts';
import { silentLogger } from '../src/log.ts';
import { tempDir } from '../test/helpers/cli.ts';
import { seriesMails, startPublicInbox } from '../test/helpers/public-inbox.ts';

const MAILS = Number(process.argv[2] ?? 10_000);
const DELAYS = Number(process.argv[3] ?? 10);
const CFG = {
  list: { name: 'bench-devel', addresses: ['bench-devel@lists.example.org'] },
  series: { groupWindowMinutes: 120 },
};

const inbox = await startPublicInbox({ name: 'bench-devel' });
const dir = tempDir('listci-bench-pi-');
try {
  let t = Date.now();
  execFileSync(
    'perl',
    [new URL('public-inbox-bulk.pl', import.meta.url).pathname, 'bench-devel', String(MAILS), 'bench'],
    {
      env: inbox.env,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  console.log(`archive: ${inbox.mailCount()} mails written in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const db = openDb(join(dir, 'listci.db'));
  const opts = { url: inbox.url, mirrorDir: join(dir, 'mirror'), since: null };
  const reader = new PublicInboxReader(db, CFG, opts);
  t = Date.now();
  const s = await reader.sync();
  const secs = (Date.now() - t) / 1000;
  console.log(
    `backfill: ${s.stored} mails stored (${s.commits} commits, ${s.versions.length} series versions) in ${secs.toFixed(1)} s: ${(s.stored / secs).toFixed(0)} messages/s`,
  );
  t = Date.now();
  await reader.sync();
  console.log(`idle sync (nothing new): ${Date.now() - t} ms`);

  const has = db.prepare('SELECT 1 FROM messages WHERE message_id = ?');
  const poller = new PublicInboxPoller(reader, 1000, silentLogger, () => {});
  poller.start();
  const delays: number[] = [];
  for (let i = 0; i < DELAYS; i++) {
    const mail = seriesMails({ tag: `delay-${i}`, n: 1, to: inbox.address })[1]!;
    await inbox.deliver(mail);
    const delivered = Date.now();
    while (!has.get(`1.delay-${i}@example.org`)) await new Promise((r) => setTimeout(r, 10));
    delays.push(Date.now() - delivered);
  }
  await poller.stop();
  delays.sort((a, b) => a - b);
  console.log(
    `delivery -> stored (poll every 1 s, ${DELAYS} mails): median ${delays[Math.floor(delays.length / 2)]} ms, max ${delays.at(-1)} ms`,
  );
  db.close();
} finally {
  await inbox.stop();
  rmSync(dir, { recursive: true, force: true });
}
