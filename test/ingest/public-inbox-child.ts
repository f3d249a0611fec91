// One public-inbox sync in a process of its own, so a test can kill -9 it at a chosen point.
// Usage: node --import tsx test/ingest/public-inbox-child.ts  (settings in LISTCI_TEST_PI as JSON)
import { openDb } from '../../src/db/open.ts';
import { PublicInboxReader } from '../../src/ingest/public-inbox.ts';

interface Settings {
  db: string;
  url: string;
  mirrorDir: string;
  batch: number;
  /**
   * after-fetch: the epoch is in the mirror, none of its mail stored yet.
   * after-commit: the first batch of mail and its position committed, nothing after.
   */
  kill: 'after-fetch' | 'after-commit' | null;
}

const s = JSON.parse(process.env.LISTCI_TEST_PI ?? '') as Settings;
const db = openDb(s.db);
const cfg = {
  list: { name: 'test-devel', addresses: ['test-devel@lists.example.org'] },
  series: { groupWindowMinutes: 120 },
};
const die = (when: Settings['kill']) => {
  if (s.kill === when) process.kill(process.pid, 'SIGKILL');
};
const reader = new PublicInboxReader(db, cfg, {
  url: s.url,
  mirrorDir: s.mirrorDir,
  since: null,
  batch: s.batch,
  afterFetch: () => die('after-fetch'),
  afterCommit: () => die('after-commit'),
});
const summary = await reader.sync();
db.close();
process.stdout.write(JSON.stringify(summary) + '\n');
