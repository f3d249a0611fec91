import type { Database } from 'better-sqlite3';
import type { Config, ConfigWithSecrets } from '../config/load.ts';
import { ImapSource } from '../ingest/imap.ts';
import { findMessageIdOverImap, type ImapMailboxOptions } from '../ingest/imap-search.ts';
import { MaildirReader } from '../ingest/maildir.ts';
import { splitMbox } from '../ingest/mbox.ts';
import { ingestMessages, processStoredMessage } from '../ingest/process.ts';
import {
  inArchive,
  PublicInboxPoller,
  PublicInboxReader,
  publicInboxOptions,
} from '../ingest/public-inbox.ts';
import { openDb } from '../db/open.ts';
import { markUnprocessable, unclassifiedIds } from '../db/messages.ts';
import type { Logger } from '../log.ts';
import type { MailboxLookup } from '../report/outbox.ts';
import { readFileSync } from 'node:fs';

// The daemon's mail source, whichever the config names. Every source stores the raw mail
// first; the daemon's intake then classifies and groups whatever is still unclassified,
// so a crash between the two loses nothing.

export interface MailSource {
  start(): void;
  /** Resolves after a full pass over what the source holds now. */
  caughtUp(): Promise<void>;
  stop(): Promise<void>;
}

export function mailSourceFor(
  config: ConfigWithSecrets,
  db: Database,
  log: Logger,
  onMail: () => void,
): MailSource {
  const src = config.mail.source;
  switch (src.type) {
    case 'imap':
      return imapSource(config, db, log, onMail);
    case 'maildir': {
      // One reader for the daemon's life: it remembers what it stored, so a poll reads only new files.
      const maildir = new MaildirReader(db, src.path, config);
      return pollingSource(src.pollSeconds * 1000, log, () => {
        const s = maildir.scan();
        if (!s.stored) return;
        log.info({ stored: s.stored, kinds: s.kinds }, `maildir: ${s.stored} new mail(s)`);
        onMail();
      });
    }
    case 'mbox':
      return pollingSource(null, log, () => {
        const s = ingestMessages(db, splitMbox(readFileSync(src.path)), `mbox:${src.path}`, config);
        log.info({ stored: s.stored, kinds: s.kinds }, `mbox: ${s.stored} new mail(s)`);
        onMail();
      });
    case 'public-inbox': {
      const opts = publicInboxOptions(src, {
        workDir: config.workDir,
        gitTimeoutSeconds: config.repo.gitTimeoutSeconds,
        log,
      });
      const reader = new PublicInboxReader(db, config, opts);
      return new PublicInboxPoller(reader, src.pollSeconds * 1000, log, onMail);
    }
  }
}

/** The list's mailbox as the IMAP clients want it, or null when mail does not come over IMAP. */
export function imapMailbox(config: ConfigWithSecrets): ImapMailboxOptions | null {
  const src = config.mail.source;
  if (src.type !== 'imap') return null;
  const { host, port, secure, user, mailbox } = src;
  return { host, port, secure, user, mailbox, password: config.secrets.imapPassword ?? '' };
}

/**
 * How the outbox looks for a reply that may have gone out: a Message-ID search in the
 * list's mailbox, or in its public-inbox archive. Null for a Maildir or an mbox (there is
 * nothing to look in).
 */
export function mailboxLookup(config: ConfigWithSecrets): MailboxLookup | null {
  const src = config.mail.source;
  if (src.type === 'public-inbox') {
    // The list's archive instead: the reply is there once the list delivered it. Its own
    // connection, opened per lookup (they are rare: a reply in flight at a crash).
    return async (messageId) => {
      const db = openDb(config.database);
      try {
        const ctx = { workDir: config.workDir, gitTimeoutSeconds: config.repo.gitTimeoutSeconds };
        const reader = new PublicInboxReader(db, config, publicInboxOptions(src, ctx));
        return await inArchive(db, reader, messageId);
      } finally {
        db.close();
      }
    };
  }
  const mailbox = imapMailbox(config);
  return mailbox ? (messageId) => findMessageIdOverImap(mailbox, messageId) : null;
}

function imapSource(config: ConfigWithSecrets, db: Database, log: Logger, onMail: () => void): MailSource {
  const src = config.mail.source;
  const mailbox = imapMailbox(config);
  if (src.type !== 'imap' || !mailbox) throw new Error('not an IMAP source');
  const imap = new ImapSource({
    ...mailbox,
    recheckSeconds: src.recheckSeconds,
    db,
    log,
    onStored: (s) => {
      if (s.inserted) onMail();
    },
  });
  return { start: () => imap.start(), caughtUp: () => imap.caughtUp(), stop: () => imap.stop() };
}

/** A source read by polling (Maildir), or once (mbox: intervalMs null). */
function pollingSource(intervalMs: number | null, log: Logger, pass: () => void): MailSource {
  let timer: NodeJS.Timeout | null = null;
  let done = false;
  const safePass = () => {
    try {
      pass();
    } catch (e) {
      log.error({ err: e }, 'mail source pass failed; retrying on the next pass');
    }
  };
  return {
    start() {
      safePass();
      if (intervalMs !== null) timer = setInterval(() => !done && safePass(), intervalMs);
    },
    async caughtUp() {
      safePass();
    },
    async stop() {
      done = true;
      if (timer) clearInterval(timer);
    },
  };
}

/** Mails stored but not yet classified (IMAP's, or left by a crash) are processed now. */
export function processUnclassified(db: Database, config: Config, log: Logger): number {
  const ids = unclassifiedIds(db);
  for (const id of ids) {
    try {
      db.transaction(() => processStoredMessage(db, id, config))();
    } catch (e) {
      // Kept and marked, never dropped: a maintainer can look at it and reprocess.
      log.error({ err: e, message: id }, 'could not process a stored mail');
      markUnprocessable(db, id, String(e instanceof Error ? e.message : e));
    }
  }
  return ids.length;
}
