import type { Config } from '../config/load.ts';
import { EXIT } from '../contract.ts';
import { openDb } from '../db/open.ts';
import { versionIdOfMessage } from '../db/versions.ts';
import { loadSeriesToCheck } from '../series/load.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { ExitError } from './common.ts';

/**
 * `listci check --message-id ID`: a series the database already holds (a backfill from
 * the archive stored it without checking it), found by any of its mails, as the daemon
 * would load it. The result is recorded against that version, so the daemon does not
 * check it a second time.
 */
export function storedSeries(
  config: Config,
  messageId: string,
): { series: SeriesToCheck; versionId: number } {
  const id = messageId.trim().replace(/^<|>$/g, '');
  const db = openDb(config.database);
  try {
    const versionId = versionIdOfMessage(db, id);
    if (versionId === null)
      throw new ExitError(
        `check: no series in ${config.database} has a mail <${id}> (ingest it first, e.g. listci ingest --public-inbox URL)`,
        EXIT.error,
      );
    return { series: loadSeriesToCheck(db, versionId), versionId };
  } finally {
    db.close();
  }
}
