import { mailText } from '../mail/parse.ts';
import type { SeriesToCheck } from '../series/types.ts';

/** Where a base hint was found, in the words a reply uses: "cover letter", "patch 3/3". */
export type TrailerSource = string;

export interface BaseTrailers {
  /** `base-commit: <sha>` as written by `git format-patch --base`; first one wins. */
  baseCommit: { sha: string; source: TrailerSource } | null;
  /** `prerequisite-patch-id: <id>` lines (format-patch --base with patches not in the base). */
  prerequisitePatchIds: string[];
  /** `Based-on: <message-id>` (patchew style): this series goes on top of that one. */
  basedOn: { messageId: string; source: TrailerSource }[];
}

/**
 * Reads the base hints of a series. format-patch puts `base-commit:` at the end of the
 * first mail (the cover letter, or patch 1 when there is none); people also paste it by
 * hand elsewhere. The cover letter is read first, then the patches in order.
 */
export async function readBaseTrailers(series: SeriesToCheck): Promise<BaseTrailers> {
  const out: BaseTrailers = { baseCommit: null, prerequisitePatchIds: [], basedOn: [] };
  const mails: { source: string; raw: Buffer }[] = [];
  if (series.cover) mails.push({ source: 'cover letter', raw: series.cover.raw });
  for (const p of series.patches) mails.push({ source: `patch ${p.number}/${p.total}`, raw: p.raw });
  for (const m of mails) {
    const text = mailText(m.raw);
    const found = parseTrailers(text);
    if (!out.baseCommit && found.baseCommit) out.baseCommit = { sha: found.baseCommit, source: m.source };
    for (const id of found.prerequisitePatchIds)
      if (!out.prerequisitePatchIds.includes(id)) out.prerequisitePatchIds.push(id);
    for (const id of found.basedOn)
      if (!out.basedOn.some((b) => b.messageId === id)) out.basedOn.push({ messageId: id, source: m.source });
  }
  return out;
}

/** The trailer lines of one decoded mail body. */
export function parseTrailers(body: string): {
  baseCommit: string | null;
  prerequisitePatchIds: string[];
  basedOn: string[];
} {
  let baseCommit: string | null = null;
  const prerequisitePatchIds: string[] = [];
  const basedOn: string[] = [];
  for (const rawLine of body.split(/\r?\n/)) {
    const line = rawLine.trim();
    let m = /^base-commit:\s*([0-9a-f]{40}|[0-9a-f]{64})\b/i.exec(line);
    if (m) {
      baseCommit ??= m[1]!.toLowerCase();
      continue;
    }
    m = /^prerequisite-patch-id:\s*([0-9a-f]{40}|[0-9a-f]{64})\b/i.exec(line);
    if (m) {
      prerequisitePatchIds.push(m[1]!.toLowerCase());
      continue;
    }
    m = /^based-on:\s*<?([^<>\s]+@[^<>\s]+?)>?$/i.exec(line);
    if (m) basedOn.push(m[1]!);
  }
  return { baseCommit, prerequisitePatchIds, basedOn };
}
