// Maildir: mails appear in new/ (delivered, unseen) and cur/ (seen). A mail is moved
// from new/ to cur/ only after the transaction that stored it has committed, so a crash
// between the two re-reads it next time, and the Message-ID makes that harmless.
import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { ingestMessages, type IngestSummary, type ProcessConfig, type ProcessOptions } from './process.ts';

export interface MaildirSummary extends IngestSummary {
  /** Files moved from new/ to cur/. */
  moved: number;
}

export function importMaildir(
  db: Database,
  dir: string,
  cfg: ProcessConfig,
  opts: ProcessOptions & { batch?: number } = {},
): MaildirSummary {
  const files = (['new', 'cur'] as const).flatMap((sub) =>
    listMails(join(dir, sub)).map((name) => ({ sub, name })),
  );
  const total: MaildirSummary = {
    messages: 0,
    stored: 0,
    duplicates: 0,
    kinds: {},
    versions: [],
    superseded: [],
    moved: 0,
  };
  const batch = opts.batch ?? 500;
  for (let i = 0; i < files.length; i += batch) {
    const chunk = files.slice(i, i + batch);
    const raws = chunk.map((f) => readFileSync(join(dir, f.sub, f.name)));
    const s = ingestMessages(db, raws, `maildir:${dir}`, cfg, { ...opts, batch: chunk.length });
    for (const f of chunk) {
      if (f.sub !== 'new') continue;
      renameSync(
        join(dir, 'new', f.name),
        join(dir, 'cur', f.name.includes(':2,') ? f.name : `${f.name}:2,`),
      );
      total.moved++;
    }
    total.messages += s.messages;
    total.stored += s.stored;
    total.duplicates += s.duplicates;
    for (const [k, n] of Object.entries(s.kinds)) total.kinds[k] = (total.kinds[k] ?? 0) + n;
    total.versions = [...new Set([...total.versions, ...s.versions])].sort((a, b) => a - b);
    total.superseded.push(...s.superseded);
  }
  return total;
}

function listMails(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
