import { resolve } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { Config } from '../config/load.ts';
import { PublicInboxReader, publicInboxOptions, type PublicInboxSummary } from '../ingest/public-inbox.ts';
import { isRemote } from '../ingest/public-inbox-git.ts';
import { markNotChecked } from '../db/runs.ts';
import type { Logger } from '../log.ts';
import { ExitError } from './common.ts';

/**
 * `listci ingest --public-inbox URL [--since 14d]`: what the archive holds that this
 * database has not stored. It keeps its position per epoch as the daemon does, and shares
 * the daemon's mirror and position when URL is the configured source, so a backfill and a
 * later daemon start neither miss nor re-read a mail.
 */
export async function backfill(
  db: Database,
  config: Config,
  log: Logger,
  url: string,
  since: string | null,
): Promise<PublicInboxSummary> {
  const src = config.mail.source;
  const target = isRemote(url) ? url.replace(/\/+$/, '') : resolve(url);
  const configured = src.type === 'public-inbox' && src.url.replace(/\/+$/, '') === target ? src : null;
  const ctx = { workDir: config.workDir, gitTimeoutSeconds: config.repo.gitTimeoutSeconds, log };
  let opts;
  try {
    opts = publicInboxOptions(
      { url: configured?.url ?? target, since: since ?? '14d', mirror: configured?.mirror ?? null },
      ctx,
    );
  } catch (e) {
    throw new ExitError(`ingest: --since: ${(e as Error).message}`, 2);
  }
  const t0 = Date.now();
  const summary = await new PublicInboxReader(db, config, opts).sync();
  const marked = markNotChecked(
    db,
    summary.versions,
    'imported by a backfill (listci ingest --public-inbox): not checked, no reply; `listci check --message-id` checks it',
  );
  log.info(
    { commits: summary.commits, stored: summary.stored, notChecked: marked, ms: Date.now() - t0 },
    `public-inbox: ${summary.commits} commits walked in epochs ${summary.epochs.join(', ') || 'none'}`,
  );
  return summary;
}
