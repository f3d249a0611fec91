// A public-inbox v2 archive (lore.kernel.org) as the mail source: no mailbox, no account.
// Followed the way public-inbox-fetch does it: the manifest names the epochs, each epoch is
// fetched into a local bare mirror, and the commits not walked yet are read in order, one
// mail (blob `m`) per commit. The last commit walked per epoch is written in the
// transaction that stores its mail, so a crash anywhere loses nothing and doubles nothing.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { FailureCount } from '../backoff.ts';
import { messageByMessageId } from '../db/messages.ts';
import { epochPositions, writeEpochPosition } from '../db/public-inbox-epochs.ts';
import { silentLogger, type Logger } from '../log.ts';
import { parseSince } from '../since.ts';
import {
  emptySummary,
  ingestMessages,
  type IngestSummary,
  type ProcessConfig,
  type ProcessOptions,
} from './process.ts';
import { fetchEpoch, headOf, listEpochs, newCommits, readMails } from './public-inbox-git.ts';

export interface PublicInboxOptions extends ProcessOptions {
  /** The archive: `https://lore.kernel.org/xen-devel`, or a local inbox directory. */
  url: string;
  /** Where the epochs are mirrored (one bare repository per epoch). */
  mirrorDir: string;
  /**
   * ISO time. On the first sync of this archive (no position kept yet) older mail is not
   * imported: a bot starting on lore must not take in twenty years of a list.
   */
  since?: string | null;
  /** Commits per transaction. */
  batch?: number;
  gitTimeoutMs?: number;
  log?: Logger;
  /** Test hooks: after an epoch is fetched, before its mail is stored; after each commit of mail. */
  afterFetch?: (epoch: number) => void;
  afterCommit?: (epoch: number, commit: string) => void;
}

export interface PublicInboxSummary extends IngestSummary {
  /** Commits walked (a deletion or purge commit carries no mail). */
  commits: number;
  epochs: number[];
  /** Epochs whose history was rewritten (a purge) since the last sync. */
  rewritten: number[];
}

/** One fetch-and-walk at a time per mirror, across the daemon's source and the outbox's lookups. */
const running = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = running.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const settled = next.catch(() => {});
  running.set(key, settled);
  void settled.then(() => running.get(key) === settled && running.delete(key));
  return next;
}

/** The default mirror directory of an archive: readable, and distinct per URL. */
export function defaultMirrorDir(workDir: string, url: string): string {
  const name = url
    .replace(/^https?:\/\//i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(-60);
  const key = createHash('sha256').update(url).digest('hex').slice(0, 8);
  return join(workDir, 'public-inbox', `${name}-${key}`);
}

/** `public-inbox:URL`, the `source` column of the mail it stored. */
export const sourceName = (url: string): string => `public-inbox:${url}`;

export class PublicInboxReader {
  /** Manifest fingerprints of the epochs as last fetched: an unchanged one is not fetched again. */
  private readonly fetched = new Map<number, string>();
  /** Aborted by close(): a sync in progress stops at its next git call or batch. */
  private readonly closing = new AbortController();

  constructor(
    private readonly db: Database,
    private readonly cfg: ProcessConfig,
    private readonly opts: PublicInboxOptions,
  ) {}

  /** Fetches what is new in the archive and stores its mail; never two at once on a mirror. */
  sync(): Promise<PublicInboxSummary> {
    return serialized(this.opts.mirrorDir, () => this.syncNow());
  }

  /** Stops a sync in progress (the daemon is stopping); what it committed stays committed. */
  close(): void {
    this.closing.abort(new Error('the public-inbox source is stopping'));
  }

  private async syncNow(): Promise<PublicInboxSummary> {
    const { db, opts } = this;
    const log = opts.log ?? silentLogger;
    const timeoutMs = opts.gitTimeoutMs ?? 300_000;
    const total: PublicInboxSummary = { ...emptySummary(), commits: 0, epochs: [], rewritten: [] };
    const signal = this.closing.signal;
    const epochs = await listEpochs(opts.url, Math.min(timeoutMs, 60_000), signal);
    const positions = epochPositions(db, opts.url);
    const newestKept = Math.max(-1, ...positions.keys());
    const since = opts.since ?? null;
    for (const epoch of epochs) {
      const last = positions.get(epoch.n) ?? null;
      // An epoch older than one listci follows, with no position of its own, was passed over
      // as too old on the first sync; one newer than all is new since, and read whole.
      if (last === null && epoch.n < newestKept) continue;
      const firstSync = newestKept < 0;
      if (last === null && firstSync && since !== null && epoch.modified !== null) {
        if (epoch.modified * 1000 < Date.parse(since)) continue;
      }
      const mirror = join(opts.mirrorDir, `${epoch.n}.git`);
      const unchanged = epoch.fingerprint !== null && this.fetched.get(epoch.n) === epoch.fingerprint;
      if (!unchanged) {
        await fetchEpoch(mirror, epoch.url, timeoutMs, signal);
        if (epoch.fingerprint !== null) this.fetched.set(epoch.n, epoch.fingerprint);
      }
      opts.afterFetch?.(epoch.n);
      const head = await headOf(mirror, timeoutMs);
      if (head === null) continue;
      const walk = await newCommits(mirror, head, last, last === null && firstSync ? since : null, timeoutMs);
      if (walk.rewritten) {
        total.rewritten.push(epoch.n);
        log.warn(
          { epoch: epoch.n, was: last, now: head },
          `public-inbox: epoch ${epoch.n} was rewritten (a purge?): reading it again from where it changed`,
        );
      }
      if (walk.commits.length || last !== head) total.epochs.push(epoch.n);
      await this.store(epoch.n, mirror, walk.commits, total, timeoutMs);
      // Nothing to walk (all of it older than `since`): the position still says "seen".
      if (!walk.commits.length && last !== head) writeEpochPosition(db, opts.url, epoch.n, head);
    }
    return total;
  }

  private async store(
    epoch: number,
    mirror: string,
    commits: string[],
    total: PublicInboxSummary,
    timeoutMs: number,
  ): Promise<void> {
    const { db, cfg, opts } = this;
    const batch = opts.batch ?? 500;
    for (let i = 0; i < commits.length; i += batch) {
      this.closing.signal.throwIfAborted();
      const chunk = commits.slice(i, i + batch);
      const mails = (await readMails(mirror, chunk, timeoutMs)).filter((m): m is Buffer => m !== null);
      const s = db.transaction(() => {
        const stored = ingestMessages(db, mails, sourceName(opts.url), cfg, {
          now: opts.now,
          maxBytes: opts.maxBytes,
          batch: Math.max(1, mails.length),
        });
        writeEpochPosition(db, opts.url, epoch, chunk.at(-1)!);
        return stored;
      })();
      opts.afterCommit?.(epoch, chunk.at(-1)!);
      total.commits += chunk.length;
      addSummary(total, s);
    }
  }
}

function addSummary(total: IngestSummary, s: IngestSummary): void {
  total.messages += s.messages;
  total.stored += s.stored;
  total.duplicates += s.duplicates;
  for (const [k, n] of Object.entries(s.kinds)) total.kinds[k] = (total.kinds[k] ?? 0) + n;
  total.versions = [...new Set([...total.versions, ...s.versions])].sort((a, b) => a - b);
  total.superseded.push(...s.superseded);
}

/**
 * The daemon's loop over an archive: a sync every `pollMs`, and after a failure (lore
 * down, the network gone) the shared backoff, from the poll interval up to 15 minutes.
 */
export class PublicInboxPoller {
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly failures: FailureCount;

  constructor(
    private readonly reader: PublicInboxReader,
    private readonly pollMs: number,
    private readonly log: Logger,
    private readonly onStored: (s: PublicInboxSummary) => void,
  ) {
    this.failures = new FailureCount({ baseMs: pollMs, maxMs: Math.max(pollMs, 15 * 60_000) });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves after a sync that went through (one pass over what the archive holds now). */
  async caughtUp(): Promise<void> {
    this.report(await this.reader.sync());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reader.close();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let delay = this.pollMs;
      try {
        this.report(await this.reader.sync());
        this.failures.reset();
      } catch (e) {
        if (this.stopped) break; // the sync was stopped with the daemon, not failed
        delay = this.failures.next();
        this.log.error({ err: e, retryInMs: delay }, 'public-inbox: sync failed; retrying');
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private report(s: PublicInboxSummary): void {
    if (s.rewritten.length) this.log.info({ epochs: s.rewritten }, 'public-inbox: resynced rewritten epochs');
    if (!s.stored) return;
    this.log.info({ stored: s.stored, kinds: s.kinds }, `public-inbox: ${s.stored} new mail(s)`);
    this.onStored(s);
  }
}

/**
 * The outbox's question after a crash, "did this reply reach the list?", asked of the
 * archive: sync it (the reply, once the list delivered it, is one more commit), then look
 * for the Message-ID among the stored mail. Throws when the archive cannot be read, which
 * the outbox takes as "cannot tell", never as "absent".
 */
export async function inArchive(
  db: Database,
  reader: PublicInboxReader,
  messageId: string,
): Promise<boolean> {
  if (messageByMessageId(db, messageId)) return true;
  await reader.sync();
  return messageByMessageId(db, messageId) !== null;
}

/** The reader's options for a configured `mail.source` of type public-inbox. */
export function publicInboxOptions(
  src: { url: string; since: string; mirror: string | null },
  ctx: { workDir: string; gitTimeoutSeconds: number; log?: Logger },
): PublicInboxOptions {
  // One key per archive whichever way its URL is written: positions are kept under it.
  const url = src.url.replace(/\/+$/, '');
  return {
    url,
    mirrorDir: src.mirror ?? defaultMirrorDir(ctx.workDir, url),
    since: parseSince(src.since),
    gitTimeoutMs: ctx.gitTimeoutSeconds * 1000,
    ...(ctx.log ? { log: ctx.log } : {}),
  };
}
