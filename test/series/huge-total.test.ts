// "[PATCH 1/5000000]": as a series it was a 39 MB `missing` column and a reply listing
// millions of patch numbers. Above series.maxPatches it is no series at all: the mail is
// kept (raw store first) and marked, and the import goes on with the next mail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { configSchema } from '../../src/config/schema.ts';
import { scheduleReady } from '../../src/daemon/schedule.ts';
import { cfg, corpusMails, freshDb, idsOf, ingest } from '../mail/corpus-helpers.ts';

const HUGE = 'huge-total-1-of-5000000.eml';
const HG = 'hg-patchbomb-0-of-2.mbox';

test('[PATCH 1/5000000] is stored and marked malformed with the reason; no series, no run, a small database', () => {
  const db = freshDb();
  const huge = corpusMails(HUGE)[0]!;
  const summary = ingest(db, [huge, ...corpusMails(HG)]);
  assert.deepEqual(summary.kinds, { malformed: 1, cover: 1, patch: 2 }, 'the import went on');
  const row = db
    .prepare('SELECT raw, kind, kind_reason, error FROM messages WHERE message_id = ?')
    .get(idsOf(HUGE)[0]!) as { raw: Buffer; kind: string; kind_reason: string; error: string | null };
  assert.ok(row.raw.equals(huge), 'the exact bytes are kept');
  assert.equal(row.kind, 'malformed');
  assert.equal(row.kind_reason, 'numbered 1/5000000: over series.maxPatches (200), not grouped as a series');
  assert.equal(row.error, null, 'it parsed: only its numbering is not believed');
  const placed = db
    .prepare(
      `SELECT count(*) AS n FROM series_versions sv
        WHERE sv.head_message_id = ? OR sv.id IN (SELECT version_id FROM patches WHERE message_id = ?)`,
    )
    .get(idsOf(HUGE)[0]!, idsOf(HUGE)[0]!) as { n: number };
  assert.equal(placed.n, 0, 'no series version');
  const runs = scheduleReady(db, new Date(), 0);
  assert.equal(runs.length, 1, 'only the patchbomb is checked');
  const longest = db.prepare('SELECT max(length(missing)) AS n FROM series_versions').get() as { n: number };
  assert.ok(longest.n < 10, `missing column ${longest.n} bytes`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const bytes = statSync(db.name).size;
  assert.ok(bytes < 512 * 1024, `database is ${bytes} bytes`);
});

test('series.maxPatches is the cap: 200 by default, and a lower one is honoured', () => {
  assert.equal(configSchema.parse({}).series.maxPatches, 200);
  assert.throws(() => configSchema.parse({ series: { maxPatches: 0 } }));
  assert.throws(() => configSchema.parse({ series: { maxPatches: 2.5 } }));
  const db = freshDb();
  const summary = ingest(db, corpusMails(HG), { ...cfg, series: { ...cfg.series, maxPatches: 1 } });
  assert.deepEqual(summary.kinds, { malformed: 3 });
  assert.equal((db.prepare('SELECT count(*) AS n FROM series').get() as { n: number }).n, 0);
  const reasons = db.prepare('SELECT kind_reason FROM messages ORDER BY id').all() as {
    kind_reason: string;
  }[];
  assert.deepEqual(
    reasons.map((r) => r.kind_reason),
    ['0/2', '1/2', '2/2'].map((n) => `numbered ${n}: over series.maxPatches (1), not grouped as a series`),
  );
});
