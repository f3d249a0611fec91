import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { insertRawMessage, insertStubMessage } from '../db/messages.ts';

export interface StoredMessage {
  id: number;
  messageId: string;
  /** false when a mail with this Message-ID was already stored (the new copy is dropped). */
  inserted: boolean;
}

/**
 * Stores a mail exactly as it arrived, before anything else looks at it, so that no
 * parser bug can lose it. Parsing and classification fill in the other columns later.
 */
export function storeRawMessage(db: Database, raw: Buffer, source: string): StoredMessage {
  const found = extractMessageId(raw);
  const messageId = found ?? syntheticMessageId(raw);
  return { ...insertRawMessage(db, { messageId, synthetic: !found, raw, source }), messageId };
}

/** The most of a mail's header a stub keeps. */
const STUB_HEADER_BYTES = 64 * 1024;

/**
 * Records a mail that listci could not store (every attempt threw): its header block only,
 * marked malformed with the reason, so that it is never silently lost and a maintainer can
 * see what it was. The stub has a Message-ID of its own, derived from the mail's bytes: the
 * mail itself can still be stored under its real one once the cause is fixed, and the same
 * mail failing again (a re-read of the mailbox) does not make a second stub.
 */
export function storeStub(
  db: Database,
  raw: Buffer,
  source: string,
  why: { reason: string; error: string },
): StoredMessage {
  const messageId = `listci-unstored-${rawDigest(raw)}@stub`;
  const header = raw.subarray(0, Math.min(headerEnd(raw), STUB_HEADER_BYTES));
  const stored = insertStubMessage(db, { messageId, header, size: raw.length, source, ...why });
  return { ...stored, messageId };
}

/** The same bytes always get the same id, so a re-import of a header-less mail is still a duplicate. */
export function syntheticMessageId(raw: Buffer): string {
  return `listci-${rawDigest(raw)}@synthetic`;
}

function rawDigest(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 32);
}

/**
 * Message-ID from the header block only, tolerant of folding and odd bytes; the full
 * parse happens later and may fail, but the id must not depend on it.
 */
export function extractMessageId(raw: Buffer): string | null {
  const end = headerEnd(raw);
  const head = raw
    .subarray(0, end)
    .toString('latin1')
    .replace(/\r?\n[ \t]+/g, ' ');
  const m = /^message-id:[ \t]*(.*)$/im.exec(head);
  if (!m) return null;
  const v = m[1]!.trim();
  const bracketed = /<([^<>\s]+)>/.exec(v);
  const id = bracketed ? bracketed[1]! : v.split(/\s+/)[0]!;
  return id && id.length <= 998 ? id : null;
}

function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const cands = [crlf, lf].filter((i) => i >= 0);
  return cands.length ? Math.min(...cands) : Math.min(raw.length, 256 * 1024);
}
