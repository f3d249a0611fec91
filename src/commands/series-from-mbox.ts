import { readFileSync } from 'node:fs';
import type { Config } from '../config/load.ts';
import { openDb } from '../db/open.ts';
import { newestCurrentVersion } from '../db/versions.ts';
import { splitMbox } from '../ingest/mbox.ts';
import { ingestMessages } from '../ingest/process.ts';
import { loadSeriesToCheck } from '../series/load.ts';
import type { SeriesToCheck } from '../series/types.ts';

/** The mbox did not hold one checkable series; the message says what it held instead. */
export class MboxSeriesError extends Error {
  override name = 'MboxSeriesError';
}

/**
 * `listci check --mbox FILE`: the mails go through the same grouping the daemon uses, in a
 * throw-away in-memory database, and the newest version found is the series checked.
 */
export function seriesFromMbox(path: string, config: Config): SeriesToCheck {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new MboxSeriesError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  // A single mail saved from a client has no "From " postmark line: treat it as a one-mail mbox.
  const mails = buf.subarray(0, 5).toString('latin1') === 'From ' ? [...splitMbox(buf)] : [buf];
  const db = openDb(':memory:');
  try {
    const summary = ingestMessages(db, mails, `mbox:${path}`, config);
    const newest = newestCurrentVersion(db);
    if (newest === null) {
      const kinds = Object.entries(summary.kinds)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ');
      throw new MboxSeriesError(
        `${path}: no patch series in ${summary.messages} mail(s)${kinds ? ` (${kinds})` : ''}`,
      );
    }
    const series = loadSeriesToCheck(db, newest);
    if (series.patches.length === 0)
      throw new MboxSeriesError(
        `${path}: the series "${series.title}" has no patches in this mbox (missing ${series.missing.join(', ')}); an mbox needs a "From " line before each mail`,
      );
    return series;
  } finally {
    db.close();
  }
}
