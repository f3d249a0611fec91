import type { Database } from 'better-sqlite3';
import { readMark, resetMark, writeMark } from '../db/mail-sync.ts';
import type { Logger } from '../log.ts';
import { storeRawMessage, storeStub, type StoredMessage } from './store.ts';

// Where an IMAP source stands in its mailbox: the pair (UIDVALIDITY, last stored UID) in
// mail_sync, and the store of each fetched mail in one transaction with the new mark, so a
// crash at any point loses nothing. imap.ts runs the connection; this is what it commits.

/**
 * Store attempts of one mail (each in a fresh session, after the reconnect delay) before it
 * is kept as a stub: a mail that fails every time must not hold up every mail after it.
 */
export const STORE_ATTEMPTS = 3;

/** The mark of one mailbox, and the store of each mail fetched from it. */
export class MailboxProgress {
  /** The highest UID whose mail (and every one below it) is committed. */
  lastUid = 0;
  uidValidity: string | null = null;
  /** Failed store attempts per UID, under the current UIDVALIDITY; a restart starts over. */
  private readonly storeFailures = new Map<number, number>();

  constructor(
    private readonly db: Database,
    private readonly sourceName: string,
    private readonly log: Logger,
  ) {}

  /**
   * Commits one mail and the mark; null when, after STORE_ATTEMPTS failures, only a stub of
   * it could be kept. A failure before that, or of the stub too, throws: the session
   * reconnects after its delay and the mail is tried again, the mark unmoved. The mail
   * itself is always tried first, so what fails every write alike (a full disk, a database
   * locked by another process) makes no stub: it is waited out.
   */
  store(uid: number, raw: Buffer, mark: number): StoredMessage | null {
    const db = this.db;
    try {
      const stored = this.commit(mark, () => storeRawMessage(db, raw, this.sourceName));
      this.storeFailures.delete(uid);
      return stored;
    } catch (err) {
      const failures = (this.storeFailures.get(uid) ?? 0) + 1;
      this.storeFailures.set(uid, failures);
      const what = `storing UID ${uid} of ${this.sourceName} failed (attempt ${failures} of ${STORE_ATTEMPTS})`;
      if (failures < STORE_ATTEMPTS) throw new Error(`${what}: ${errorText(err)}`, { cause: err });
      const reason =
        `listci could not store this mail (UID ${uid}, UIDVALIDITY ${this.uidValidity} of ${this.sourceName}, ` +
        `${raw.length} bytes) after ${failures} attempts; only its header is kept here`;
      const stub = this.commit(mark, () =>
        storeStub(db, raw, this.sourceName, { reason, error: errorText(err) }),
      );
      this.storeFailures.delete(uid);
      this.log.error(
        { uid, stub: stub.messageId, err: errorText(err) },
        `${what}: kept as a stub, going on with the next mail`,
      );
      return null;
    }
  }

  private commit(mark: number, write: () => StoredMessage): StoredMessage {
    const stored = this.db.transaction(() => {
      const s = write();
      this.writeMark(mark);
      return s;
    })();
    this.lastUid = mark;
    return stored;
  }

  /** Moves the mark over UIDs that hold no mail to store (expunged, or already past). */
  set(uid: number): void {
    this.writeMark(uid);
    this.lastUid = uid;
  }

  private writeMark(uid: number): void {
    writeMark(this.db, this.sourceName, uid);
  }

  /**
   * Reads the mark for this mailbox. UIDs are only meaningful under the UIDVALIDITY they were
   * given in: when it changed (mailbox deleted and recreated, restored from backup), every UID
   * may now name another mail, so the whole mailbox is read again; the store's Message-ID
   * uniqueness drops the mails already kept.
   */
  load(uidValidity: string, where: string): void {
    const db = this.db;
    const row = readMark(db, this.sourceName);
    if (uidValidity !== this.uidValidity) this.storeFailures.clear();
    if (row && row.uidvalidity === uidValidity) {
      this.lastUid = row.last_uid;
    } else {
      if (row)
        this.log.info(
          { was: row.uidvalidity, now: uidValidity, lastUid: row.last_uid },
          `UIDVALIDITY of ${where} changed: reading the whole mailbox again`,
        );
      resetMark(db, this.sourceName, uidValidity);
      this.lastUid = 0;
    }
    this.uidValidity = uidValidity;
  }
}

/** An IMAP or database error as one line: message, code and the server's response text. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const resp = (err as { responseText?: unknown }).responseText;
    return [err.message, code ? `[${String(code)}]` : '', resp ? `: ${String(resp)}` : ''].join('');
  }
  return String(err);
}
