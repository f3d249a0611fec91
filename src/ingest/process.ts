// The stage after the raw store: parse a stored mail, classify it, fill its columns,
// and place patches and cover letters into series. Runs on the stored row, so it can
// be re-run after a parser fix; running it twice on one row changes nothing.
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { messageById, messageByMessageId, writeParsed } from '../db/messages.ts';
import { DEFAULT_MAX_PATCHES } from '../config/schema.ts';
import { authorOf, sameListAddress } from '../mail/author.ts';
import { classify, type MailKind } from '../mail/classify.ts';
import { detectMangled } from '../mail/mangled.ts';
import { parseMessage, type ParsedMessage } from '../mail/parse.ts';
import { parseSubject, seriesTags } from '../mail/subject.ts';
import { placeMessage } from '../series/group.ts';
import { storeRawMessage } from './store.ts';

/** The parts of the config this stage reads. */
export interface ProcessConfig {
  /**
   * The list: its addresses (a From rewritten to one of them is traced back to its author)
   * and the tag it adds to subjects (none when absent).
   */
  list: { name: string; addresses: readonly string[]; subjectPrefix?: string | null };
  series: { groupWindowMinutes: number; maxPatches?: number };
}

export interface ProcessOptions {
  /** ISO time used for first_seen_at and windows without a Date header; defaults to now. */
  now?: string;
  maxBytes?: number;
}

export interface ProcessResult {
  id: number;
  messageId: string;
  kind: MailKind;
  reason: string;
  versionId: number | null;
  /** How the series rule placed it ("thread: in reply to <...>"), null for non-patches. */
  rule: string | null;
  newVersion: boolean;
  /** Versions this mail superseded: cancel their pending work. */
  superseded: number[];
}

export function processStoredMessage(
  db: Database,
  id: number,
  cfg: ProcessConfig,
  opts: ProcessOptions = {},
): ProcessResult {
  const row = messageById(db, id);
  if (!row) throw new Error(`message row ${id} does not exist`);
  const now = opts.now ?? new Date().toISOString();
  return db.transaction(() => {
    const msg = parseMessage(row.raw, { maxBytes: opts.maxBytes });
    const tags = parseSubject(msg.subject, cfg.list.subjectPrefix ?? null);
    const cls = classify(msg, tags, { maxPatches: cfg.series.maxPatches ?? DEFAULT_MAX_PATCHES });
    const lists = cfg.list.addresses;
    const author = authorOf(msg, lists);
    const mangled = cls.kind === 'patch' ? detectMangled(msg) : null;
    writeParsed(db, row.id, {
      subject: msg.subject,
      fromName: author.name,
      fromAddr: msg.fromAddr ? author.addr : null,
      date: msg.date,
      inReplyTo: msg.inReplyTo,
      references: msg.references,
      kind: cls.kind,
      kindReason: cls.reason,
      tags: {
        prefixes: tags.prefixes,
        version: tags.version,
        number: tags.number,
        total: tags.total,
        resend: tags.resend,
        rfc: tags.rfc,
        title: tags.title,
      },
      mangled,
      error: msg.error,
      own: cls.own,
    });
    const result: ProcessResult = {
      id: row.id,
      messageId: row.message_id,
      kind: cls.kind,
      reason: cls.reason,
      versionId: null,
      rule: null,
      newVersion: false,
      superseded: [],
    };
    if (cls.kind !== 'patch' && cls.kind !== 'cover') return result;
    const placed = placeMessage(
      db,
      {
        messageId: row.message_id,
        kind: cls.kind,
        subject: msg.subject,
        title: tags.title,
        version: tags.version,
        number: cls.kind === 'cover' ? 0 : (tags.number ?? 1),
        total: tags.total ?? 1,
        resend: tags.resend,
        tags: seriesTags(tags),
        authorName: author.name,
        authorAddr: author.addr,
        authorKnown: msg.fromAddr !== null && !sameListAddress(author.addr, lists),
        date: msg.date,
        inReplyTo: msg.inReplyTo,
        references: msg.references,
      },
      {
        list: cfg.list.name,
        groupWindowMinutes: cfg.series.groupWindowMinutes,
        now,
        patchDigest: (mid) => storedPatchDigest(db, mid),
      },
    );
    return {
      ...result,
      versionId: placed.versionId,
      rule: placed.rule,
      newVersion: placed.created,
      superseded: placed.superseded,
    };
  })();
}

/** sha256 of the diff a stored patch mail carries (commit message and signature excluded). */
export function storedPatchDigest(db: Database, messageId: string): string | null {
  const row = messageByMessageId(db, messageId);
  if (!row) return null;
  const diff = diffOf(parseMessage(row.raw));
  return diff ? createHash('sha256').update(diff).digest('hex') : null;
}

function diffOf(msg: ParsedMessage): string | null {
  for (const text of [msg.body, ...msg.patchParts.map((p) => p.text)]) {
    const start = text.search(/^diff --git /m);
    if (start < 0) continue;
    const rest = text.slice(start);
    const sig = rest.search(/^-- ?\r?$/m);
    return sig < 0 ? rest : rest.slice(0, sig);
  }
  return null;
}

export interface IngestSummary {
  messages: number;
  stored: number;
  duplicates: number;
  kinds: Record<string, number>;
  /** Versions created or completed during this import. */
  versions: number[];
  superseded: number[];
}

/**
 * Stores and processes a stream of raw mails, committing every `batch` mails: one
 * broken mail is stored and marked, never stops the import.
 */
/** A summary of nothing ingested yet. */
export function emptySummary(): IngestSummary {
  return { messages: 0, stored: 0, duplicates: 0, kinds: {}, versions: [], superseded: [] };
}

export function ingestMessages(
  db: Database,
  mails: Iterable<Buffer>,
  source: string,
  cfg: ProcessConfig,
  opts: ProcessOptions & { batch?: number; afterCommit?: (count: number) => void } = {},
): IngestSummary {
  const summary = emptySummary();
  const versions = new Set<number>();
  const batch = opts.batch ?? 500;
  let pending: Buffer[] = [];
  const flush = () => {
    db.transaction(() => {
      for (const raw of pending) {
        const stored = storeRawMessage(db, raw, source);
        summary.messages++;
        if (!stored.inserted) {
          summary.duplicates++;
          continue;
        }
        summary.stored++;
        const r = processStoredMessage(db, stored.id, cfg, opts);
        summary.kinds[r.kind] = (summary.kinds[r.kind] ?? 0) + 1;
        if (r.versionId !== null) versions.add(r.versionId);
        summary.superseded.push(...r.superseded);
      }
    })();
    opts.afterCommit?.(pending.length);
    pending = [];
  };
  for (const raw of mails) {
    pending.push(raw);
    if (pending.length >= batch) flush();
  }
  if (pending.length) flush();
  summary.versions = [...versions].sort((a, b) => a - b);
  return summary;
}
