// A stored series version as plain data for the git and build stages: what a check is
// handed, read from the database once, so nothing downstream opens it.
import type { Database } from 'better-sqlite3';
import { messageByMessageId } from '../db/messages.ts';
import { patchesOfVersion } from '../db/patches.ts';
import { versionWithSeries } from '../db/versions.ts';
import { parseSubject } from '../mail/subject.ts';
import type { PatchMail, SeriesToCheck } from './types.ts';

/** Everything the git and build stages need for one version, raw bytes included. */
export function loadSeriesToCheck(db: Database, versionId: number): SeriesToCheck {
  const v = versionWithSeries(db, versionId);
  if (!v) throw new Error(`series version ${versionId} does not exist`);
  const mail = (id: string) => messageByMessageId(db, id);
  const head = mail(v.head_message_id);
  const cover = v.cover_message_id ? mail(v.cover_message_id) : null;
  const rows = patchesOfVersion(db, versionId);
  const patches: PatchMail[] = rows.map((p) => {
    const m = mail(p.message_id);
    return {
      number: p.number,
      total: p.total,
      subject: p.subject,
      messageId: p.message_id,
      raw: m?.raw ?? Buffer.alloc(0),
      mangled: m?.mangled ?? null,
    };
  });
  return {
    title: parseSubject(head?.subject ?? '').title,
    version: v.version,
    author: v.author_name ? `${v.author_name} <${v.author_addr}>` : v.author_addr,
    tags: JSON.parse(v.tags) as string[],
    cover:
      cover && v.cover_message_id
        ? { messageId: v.cover_message_id, subject: cover.subject ?? '', raw: cover.raw }
        : null,
    patches,
    missing: JSON.parse(v.missing) as number[],
  };
}
