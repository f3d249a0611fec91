// Shared by the mail and series tests: the corpus files and a fresh SQLite file.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { XEN_DEVEL_ADDRESSES, XEN_DEVEL_SUBJECT_PREFIX } from '../../src/config/schema.ts';
import { openDb } from '../../src/db/open.ts';
import { splitMbox } from '../../src/ingest/mbox.ts';
import {
  ingestMessages,
  processStoredMessage,
  type IngestSummary,
  type ProcessConfig,
  type ProcessResult,
} from '../../src/ingest/process.ts';
import { extractMessageId, storeRawMessage } from '../../src/ingest/store.ts';

export const CORPUS = fileURLToPath(new URL('../fixtures/mail/', import.meta.url));
export const cfg = {
  list: { name: 'xen-devel', addresses: XEN_DEVEL_ADDRESSES, subjectPrefix: XEN_DEVEL_SUBJECT_PREFIX },
  series: { groupWindowMinutes: 120, maxPatches: 200 },
};

export const eml = (name: string): Buffer => readFileSync(join(CORPUS, `${name}.eml`));
export const idOf = (name: string): string => extractMessageId(eml(name))!;

export function freshDb(): Database {
  return openDb(join(mkdtempSync(join(tmpdir(), 'listci-mail-')), 'listci.db'));
}

/** Stores and processes the named corpus mails in the given (arrival) order. */
export function deliver(db: Database, names: string[], now?: string): Map<string, ProcessResult> {
  const out = new Map<string, ProcessResult>();
  for (const n of names) {
    const s = storeRawMessage(db, eml(n), 'test:corpus');
    out.set(n, processStoredMessage(db, s.id, cfg, now ? { now } : {}));
  }
  return out;
}

/** The mails of a corpus file, in sending order: an mbox holds a whole posting, an .eml one mail. */
export function corpusMails(file: string): Buffer[] {
  const buf = readFileSync(join(CORPUS, file));
  return file.endsWith('.mbox') ? [...splitMbox(buf)] : [buf];
}

/** Message-ID of each mail of a corpus file, in sending order. */
export const idsOf = (file: string): string[] => corpusMails(file).map((m) => extractMessageId(m)!);

/** Feeds mails through the import path the daemon's mbox and Maildir sources use. */
export function ingest(db: Database, mails: Buffer[], config: ProcessConfig = cfg): IngestSummary {
  return ingestMessages(db, mails, 'test:corpus', config);
}
