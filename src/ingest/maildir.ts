// Maildir: mails appear in new/ (delivered, unseen) and cur/ (seen). A mail is moved
// from new/ to cur/ only after the transaction that stored it has committed, so a crash
// between the two re-reads it next time, and the Message-ID makes that harmless.
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import {
  emptySummary,
  ingestMessages,
  type IngestSummary,
  type ProcessConfig,
  type ProcessOptions,
} from './process.ts';

export interface MaildirSummary extends IngestSummary {
  /** Files moved from new/ to cur/. */
  moved: number;
}

export type MaildirOptions = ProcessOptions & { batch?: number };

type Sub = 'new' | 'cur';
const SUBS: readonly Sub[] = ['new', 'cur'];

/** A directory as its last listing saw it. */
interface Listing {
  /** Unique names of its mails. */
  keys: Set<string>;
  /** Its mtime then, or null when that is too recent to prove the next change would alter it. */
  mtimeNs: bigint | null;
  at: number;
}

/**
 * A directory's mtime is only compared once it is this old: its resolution can be coarse
 * (a kernel tick, a second, two on FAT), so a rename in the same tick as the listing could
 * leave it unchanged.
 */
const SETTLED_NS = 3_000_000_000n;
/** Listed at least this often whatever the mtime says (clock steps, network file systems). */
const RELIST_MS = 60_000;

/**
 * Reads a Maildir again and again, each time only the files it has not stored yet.
 *
 * The first scan reads new/ and cur/ whole: cur/ may hold mail that another reader (a
 * mail client on the same Maildir) moved there before listci saw it, and mail stored
 * before a restart is dropped again by its Message-ID. Later scans read only names not
 * seen before, and list a directory only when its mtime moved, so an idle poll over a
 * big archive costs two stat calls instead of re-reading and re-storing every mail.
 * A name counts as seen only once its mail is committed, and a listing is kept only
 * after a scan that went through, so nothing is skipped that was not stored.
 */
export class MaildirReader {
  /**
   * Unique names (the part before ':') of the mails stored from this Maildir: the part
   * after ':' is the flags, which a mail client changes by renaming in cur/.
   */
  private readonly stored = new Set<string>();
  private readonly listings: Record<Sub, Listing | null> = { new: null, cur: null };

  constructor(
    private readonly db: Database,
    private readonly dir: string,
    private readonly cfg: ProcessConfig,
    private readonly opts: MaildirOptions = {},
  ) {}

  scan(): MaildirSummary {
    const { dir } = this;
    const fresh: Partial<Record<Sub, Listing>> = {};
    const files: { sub: Sub; name: string; key: string }[] = [];
    for (const sub of SUBS) {
      const path = join(dir, sub);
      const mtimeNs = dirMtime(path);
      const last = this.listings[sub];
      if (last && mtimeNs !== null && last.mtimeNs === mtimeNs && Date.now() - last.at < RELIST_MS) continue;
      const keys = new Set<string>();
      for (const name of listMails(path)) {
        const key = uniqueName(name);
        keys.add(key);
        if (!this.stored.has(key)) files.push({ sub, name, key });
      }
      const settled = mtimeNs !== null && BigInt(Date.now()) * 1_000_000n - mtimeNs > SETTLED_NS;
      fresh[sub] = { keys, mtimeNs: settled ? mtimeNs : null, at: Date.now() };
    }
    files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    const total: MaildirSummary = { ...emptySummary(), moved: 0 };
    const batch = this.opts.batch ?? 500;
    for (let i = 0; i < files.length; i += batch) {
      // A file gone since the listing was moved by another reader: the next scan finds it
      // under its new name.
      const chunk = files.slice(i, i + batch).flatMap((f) => {
        const raw = readIfPresent(join(dir, f.sub, f.name));
        return raw ? [{ ...f, raw }] : [];
      });
      const s = ingestMessages(
        this.db,
        chunk.map((f) => f.raw),
        `maildir:${dir}`,
        this.cfg,
        { ...this.opts, batch: chunk.length },
      );
      for (const f of chunk) {
        this.stored.add(f.key);
        if (f.sub !== 'new') continue;
        if (moveToCur(dir, f.name)) total.moved++;
      }
      total.messages += s.messages;
      total.stored += s.stored;
      total.duplicates += s.duplicates;
      for (const [k, n] of Object.entries(s.kinds)) total.kinds[k] = (total.kinds[k] ?? 0) + n;
      total.versions = [...new Set([...total.versions, ...s.versions])].sort((a, b) => a - b);
      total.superseded.push(...s.superseded);
    }
    this.keep(fresh);
    return total;
  }

  /** Takes the listings of a scan that went through; mail deleted from the Maildir is forgotten. */
  private keep(fresh: Partial<Record<Sub, Listing>>): void {
    if (!fresh.new && !fresh.cur) return;
    Object.assign(this.listings, fresh);
    const { new: inNew, cur: inCur } = this.listings;
    for (const key of this.stored)
      if (!inNew?.keys.has(key) && !inCur?.keys.has(key)) this.stored.delete(key);
  }
}

/** One full import of a Maildir (`listci ingest --maildir`): every mail in new/ and cur/. */
export function importMaildir(
  db: Database,
  dir: string,
  cfg: ProcessConfig,
  opts: MaildirOptions = {},
): MaildirSummary {
  return new MaildirReader(db, dir, cfg, opts).scan();
}

function uniqueName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(0, colon);
}

function readIfPresent(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** false when another reader moved it first: the mail is stored either way. */
function moveToCur(dir: string, name: string): boolean {
  try {
    renameSync(join(dir, 'new', name), join(dir, 'cur', name.includes(':2,') ? name : `${name}:2,`));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function dirMtime(dir: string): bigint | null {
  try {
    return statSync(dir, { bigint: true }).mtimeNs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function listMails(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
