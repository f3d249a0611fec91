import { ImapFlow } from 'imapflow';
import type { Database } from 'better-sqlite3';
import { createLogger, type Logger } from '../log.ts';
import { FailureCount, type Backoff } from '../backoff.ts';
import type { ImapMailboxOptions } from './imap-search.ts';
import { errorText, MailboxProgress } from './imap-progress.ts';
import type { StoredMessage } from './store.ts';

export interface ImapSourceOptions extends ImapMailboxOptions {
  /** Backstop: look for new mail this often even when IDLE reported nothing. */
  recheckSeconds: number;
  /** Key in mail_sync and value of messages.source; default "imap:user@host:port/mailbox". */
  sourceName?: string;
  db: Database;
  /**
   * Called after each fetched mail is committed, with `inserted: false` when its Message-ID
   * was already stored (a re-sync after a UIDVALIDITY change, the same mail in two sources).
   * Not called for a mail kept only as a stub: there is nothing to classify in it.
   * A throw is logged and does not stop the ingest: the mail is already safe in the database.
   */
  onStored?: (stored: StoredMessage) => void;
  log?: Logger;
  /** Delay between reconnect attempts: doubles from baseMs up to maxMs, reset after a good sync. */
  backoff?: Backoff;
}

/** Mails per UID FETCH: bounds memory on a first sync of a large list archive. */
const FETCH_BATCH = 200;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The default name of an IMAP source, also its key in mail_sync. */
export function imapSourceName(o: { user: string; host: string; port: number; mailbox: string }): string {
  return `imap:${o.user}@${o.host}:${o.port}/${o.mailbox}`;
}

/**
 * Follows one IMAP mailbox and stores every mail in it, exactly once, across restarts,
 * disconnects and mailbox re-creation.
 *
 * Where it stands is the pair (UIDVALIDITY, last stored UID) in mail_sync, kept by
 * MailboxProgress (imap-progress.ts): each mail and the new mark are written in one
 * transaction, so a crash at any point loses nothing and a restart fetches from the first
 * UID not committed. New mail is noticed through IDLE (the
 * server pushes EXISTS) and, as a backstop for servers or middleboxes that drop IDLE
 * silently, a NOOP + fetch every `recheckSeconds`. ImapFlow clients are single-use, so every
 * (re)connect builds a new one; failed attempts wait an exponentially growing delay.
 */
export class ImapSource {
  readonly sourceName: string;
  private readonly log: Logger;
  private readonly backoff: FailureCount;
  private readonly progress: MailboxProgress;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private client: ImapFlow | null = null;
  private connecting = false;
  /** Set by anything that may mean new mail (EXISTS, close, recheck, caughtUp); cleared as a pass starts. */
  private woken = false;
  private onWake: (() => void) | null = null;
  private endSleep: (() => void) | null = null;
  private waiters: Waiter[] = [];
  private sessions = 0;

  constructor(private readonly opts: ImapSourceOptions) {
    this.sourceName = opts.sourceName ?? imapSourceName(opts);
    this.log = (opts.log ?? createLogger()).child({ source: this.sourceName });
    this.backoff = new FailureCount(opts.backoff ?? { baseMs: 1000, maxMs: 5 * 60_000 });
    this.progress = new MailboxProgress(opts.db, this.sourceName, this.log);
  }

  start(): void {
    if (this.loop) throw new Error(`IMAP source ${this.sourceName} was already started`);
    this.loop = this.run();
  }

  /**
   * Resolves once a sync pass that began after this call has finished: every mail the server
   * had in the mailbox at the time of the call is then committed. Waits through reconnects;
   * rejects only when the source is stopped first.
   */
  caughtUp(): Promise<void> {
    if (this.stopping) return Promise.reject(this.stoppedError());
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.wake();
    });
  }

  /** Logs out and resolves when the connection is closed; a FETCH batch in progress finishes first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    this.endSleep?.();
    // A connect() in progress may wait for a greeting for seconds: cut it short.
    if (this.connecting) this.client?.close();
    await this.loop;
    for (const w of this.waiters.splice(0)) w.reject(this.stoppedError());
  }

  private stoppedError(): Error {
    return new Error(`IMAP source ${this.sourceName} stopped before it caught up`);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.session();
      } catch (err) {
        if (this.stopping) break;
        const ms = this.backoff.next();
        this.log.warn(
          { err: errorText(err), retryInMs: ms },
          `IMAP ${this.where()}: ${errorText(err)}; reconnecting`,
        );
        await this.sleep(ms);
      }
    }
  }

  private where(): string {
    return `${this.opts.host}:${this.opts.port} ${this.opts.mailbox}`;
  }

  /** One connection, from connect to close: catch up, then wait for news, until stopped or dropped. */
  private async session(): Promise<void> {
    const o = this.opts;
    const client = new ImapFlow({
      host: o.host,
      port: o.port,
      secure: o.secure,
      auth: { user: o.user, pass: o.password },
      logger: false,
      // IDLE is run by hand right after each pass: auto-IDLE starts only after 15 s of quiet,
      // and mail arriving in that window would wait for the recheck.
      disableAutoIdle: true,
      // Restart IDLE before the 5-minute socket timeout: not every server sends keep-alives.
      maxIdleTime: 4 * 60_000,
    });
    this.client = client;
    // Without a listener an 'error' event would crash the process; 'close' always follows.
    client.on('error', (err: unknown) => {
      this.log.warn({ err: errorText(err) }, `IMAP ${this.where()} connection error`);
      client.close();
    });
    client.on('close', () => this.wake());
    client.on('exists', () => this.wake());
    try {
      this.connecting = true;
      try {
        await client.connect();
      } finally {
        this.connecting = false;
      }
      if (this.stopping) return;
      const box = await client.mailboxOpen(o.mailbox, { readOnly: true });
      this.progress.load(String(box.uidValidity), this.where());
      this.sessions++;
      this.log.info(
        { uidValidity: this.progress.uidValidity, exists: box.exists, lastUid: this.progress.lastUid },
        `IMAP ${this.sessions === 1 ? 'connected to' : 'reconnected to'} ${this.where()}`,
      );
      let first = true;
      while (!this.stopping) {
        this.woken = false;
        const served = this.waiters.splice(0);
        try {
          await this.pass(client, first);
        } catch (err) {
          this.waiters.unshift(...served);
          throw err;
        }
        // A pass cut short by stop() did not catch up: those waiters are rejected by stop().
        if (this.stopping) this.waiters.unshift(...served);
        else for (const w of served) w.resolve();
        if (first) this.backoff.reset();
        first = false;
        if (this.stopping) break;
        // IDLE holds the connection until the next command (the next pass's EXAMINE) breaks it.
        client.idle().catch(() => {
          /* the close that ends it is handled through the 'close' event */
        });
        await this.waitForWake(o.recheckSeconds * 1000);
        if (!client.usable) throw new Error(`connection closed by the server${reason(client)}`);
      }
    } finally {
      this.client = null;
      if (client.usable) await client.logout().catch(() => client.close());
      else client.close();
    }
  }

  /** Fetch and commit every mail above the mark, in batches so a big backlog is not held in memory. */
  private async pass(client: ImapFlow, first: boolean): Promise<void> {
    if (!first) {
      // Select the mailbox afresh rather than NOOP: see reselect(). It also ends IDLE.
      await this.reselect(client);
    }
    if (!client.usable || !client.mailbox)
      throw new Error(`connection closed by the server${reason(client)}`);
    if (client.mailbox.exists === 0) return;
    const found = await client.search({ uid: `${this.progress.lastUid + 1}:*` }, { uid: true });
    if (!found) throw new Error(`UID SEARCH in ${this.where()} failed${reason(client)}`);
    // "N:*" always includes the highest UID, even when it is below N.
    const todo = found.filter((uid) => uid > this.progress.lastUid).sort((a, b) => a - b);
    let count = 0;
    for (let i = 0; i < todo.length && !this.stopping; i += FETCH_BATCH) {
      const batch = todo.slice(i, i + FETCH_BATCH);
      count += await this.fetchBatch(client, batch);
    }
    if (count)
      this.log.info(
        { count, lastUid: this.progress.lastUid },
        `fetched ${count} mail(s) from ${this.where()}`,
      );
  }

  /**
   * Dovecot does not always end a session whose selected mailbox was deleted and recreated
   * by another session: the old session keeps seeing the old mailbox (NOOP answers "* NO
   * Internal error", STATUS answers from the stale view), and mail in the new one never
   * shows up. A fresh EXAMINE sees the mailbox as it is now, with its current UIDVALIDITY,
   * at the price of one round trip per pass.
   */
  private async reselect(client: ImapFlow): Promise<void> {
    const box = await client.mailboxOpen(this.opts.mailbox, { readOnly: true });
    const validity = String(box.uidValidity);
    if (validity !== this.progress.uidValidity) this.progress.load(validity, this.where());
  }

  /**
   * The mark only moves over UIDs whose mails are all committed, whatever order the server
   * answers in; a UID the server no longer returns (expunged since the search) is passed
   * once the batch is complete.
   */
  private async fetchBatch(client: ImapFlow, batch: number[]): Promise<number> {
    const done = new Set<number>();
    let next = 0; // batch[next] is the first UID not yet committed
    let count = 0;
    for await (const msg of client.fetch(batch, { uid: true, source: true }, { uid: true })) {
      if (msg.uid <= this.progress.lastUid || done.has(msg.uid) || !batch.includes(msg.uid)) continue;
      if (!msg.source) throw new Error(`the server sent no body for UID ${msg.uid} of ${this.sourceName}`);
      done.add(msg.uid);
      while (next < batch.length && done.has(batch[next]!)) next++;
      const mark = next > 0 ? batch[next - 1]! : this.progress.lastUid;
      const stored = this.progress.store(msg.uid, msg.source, Math.max(mark, this.progress.lastUid));
      count++;
      if (!stored) continue;
      this.log.debug(
        { uid: msg.uid, messageId: stored.messageId, inserted: stored.inserted, id: stored.id },
        'stored mail from IMAP',
      );
      try {
        this.opts.onStored?.(stored);
      } catch (err) {
        this.log.error({ err: errorText(err), messageId: stored.messageId }, 'onStored callback failed');
      }
    }
    if (!client.usable) throw new Error(`connection closed by the server during FETCH${reason(client)}`);
    const last = batch.at(-1)!;
    if (last > this.progress.lastUid) this.progress.set(last);
    return count;
  }

  private wake(): void {
    this.woken = true;
    this.onWake?.();
  }

  private waitForWake(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.onWake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.onWake = done;
    });
  }

  /** The reconnect delay: only stop() cuts it short, so a burst of events can not defeat the backoff. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.endSleep = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.endSleep = done;
    });
  }
}

function reason(client: ImapFlow): string {
  return client.byeReason ? ` (${client.byeReason})` : '';
}
