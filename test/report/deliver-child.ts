// One delivery pass in a process of its own, so a test can kill -9 it mid-send.
// Usage: node --import tsx test/report/deliver-child.ts  (settings in LISTCI_TEST_DELIVER as JSON)
import { openDb } from '../../src/db/open.ts';
import { createLogger } from '../../src/log.ts';
import { deliverPending } from '../../src/report/outbox.ts';
import { findMessageIdOverImap, type ImapMailboxOptions } from '../../src/ingest/imap-search.ts';

interface Settings {
  db: string;
  smtp: { host: string; port: number };
  imap: ImapMailboxOptions | null;
  inFlightGraceMs: number;
}

const s = JSON.parse(process.env.LISTCI_TEST_DELIVER ?? '') as Settings;
const db = openDb(s.db);
const imap = s.imap;
const report = await deliverPending(db, {
  smtp: { host: s.smtp.host, port: s.smtp.port, secure: false, user: null, password: null },
  imapCheck: imap ? (id) => findMessageIdOverImap(imap, id) : null,
  inFlightGraceMs: s.inFlightGraceMs,
  log: createLogger('info'),
});
db.close();
process.stdout.write(JSON.stringify(report) + '\n');
