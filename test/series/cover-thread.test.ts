// Postings whose subjects disagree with their threading, as real senders make them: a
// cover letter edited by hand to say v3 over patches that say nothing, and Mercurial's
// "[PATCH 1 of 2]". A maintainer counts one series of the posted size; so must listci.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { parseConfig } from '../../src/config/load.ts';
import { scheduleReady } from '../../src/daemon/schedule.ts';
import { processStoredMessage } from '../../src/ingest/process.ts';
import { loadSeriesToCheck } from '../../src/series/load.ts';
import { storeRawMessage } from '../../src/ingest/store.ts';
import { seriesFromMbox } from '../../src/commands/series-from-mbox.ts';
import { cfg, CORPUS, corpusMails, freshDb, idsOf, ingest } from '../mail/corpus-helpers.ts';

interface Version {
  id: number;
  series_id: number;
  version: number;
  total: number;
  state: string;
  missing: string;
  cover_message_id: string | null;
  head_message_id: string;
  tags: string;
  title: string;
}
const versions = (db: Database): Version[] =>
  db
    .prepare(
      'SELECT sv.*, s.title FROM series_versions sv JOIN series s ON s.id = sv.series_id ORDER BY sv.id',
    )
    .all() as Version[];
const patchIds = (db: Database, versionId: number): string[] =>
  (
    db.prepare('SELECT message_id FROM patches WHERE version_id = ? ORDER BY number').all(versionId) as {
      message_id: string;
    }[]
  ).map((r) => r.message_id);

const V3 = 'v3-cover-with-unversioned-patches.mbox';

for (const order of ['as sent', 'cover last'] as const) {
  test(`v3 cover letter over four unversioned [PATCH n/4] (${order}): one v3 series of 4, one check`, () => {
    const db = freshDb();
    const mails = corpusMails(V3);
    const [cover, ...patches] = idsOf(V3);
    assert.equal(patches.length, 4);
    ingest(db, order === 'as sent' ? mails : [...mails.slice(1), mails[0]!]);
    const all = versions(db);
    assert.equal(
      all.length,
      1,
      `one version, not ${all.length}: ${JSON.stringify(all.map((v) => v.version))}`,
    );
    const v = all[0]!;
    assert.deepEqual(
      [v.version, v.total, v.state, JSON.parse(v.missing), v.cover_message_id, v.head_message_id],
      [3, 4, 'complete', [], cover, cover],
    );
    assert.deepEqual(JSON.parse(v.tags), ['net-next'], "the cover's tags name the posting");
    assert.equal(v.title, 'xen-netback: tidy up queue handling (v3)');
    assert.deepEqual(patchIds(db, v.id), patches);
    const s = loadSeriesToCheck(db, v.id);
    assert.deepEqual([s.version, s.patches.length, s.cover?.messageId], [3, 4, cover]);
    const runs = scheduleReady(db, new Date(), 30);
    assert.deepEqual(
      runs.map((r) => r.versionId),
      [v.id],
      'one check of the whole series',
    );
  });
}

test('each unversioned patch is placed by the cover letter it replies to, and says so', () => {
  const db = freshDb();
  const rules = corpusMails(V3).map((raw) => {
    const s = storeRawMessage(db, raw, 'test:corpus');
    return processStoredMessage(db, s.id, cfg).rule;
  });
  assert.equal(rules[0], 'new series');
  for (const r of rules.slice(1)) assert.match(r!, /^thread: in reply to the v3 cover letter </);
});

test('listci check --mbox on the v3 posting checks v3 with its 4 patches', () => {
  const config = parseConfig({}, { source: 'test', baseDir: CORPUS });
  const s = seriesFromMbox(join(CORPUS, V3), config);
  assert.deepEqual(
    [s.version, s.patches.map((p) => p.number), s.missing, s.title],
    [3, [1, 2, 3, 4], [], 'xen-netback: tidy up queue handling (v3)'],
  );
});

test('"[PATCH v4 1/4]" sent days later in reply to the v3 cover is a new version, not a fill of its empty slot', () => {
  // The guard on the cover's thread: it takes the patches of its own posting only.
  const db = freshDb();
  const mails = corpusMails(V3);
  const late = mails.slice(1, 2).map((m) =>
    Buffer.from(
      m
        .toString('latin1')
        .replace(/^Message-Id: <(.*)>$/m, 'Message-Id: <late-$1>')
        .replace(/^Subject: \[PATCH 1\/4\]/m, 'Subject: [PATCH v4 1/4]')
        .replace(/^Date: .*$/m, 'Date: Mon, 14 Dec 2026 10:00:00 +0000'),
      'latin1',
    ),
  );
  ingest(db, [mails[0]!, ...late]);
  const [v3, v4, ...rest] = versions(db);
  assert.equal(rest.length, 0);
  assert.deepEqual([v3!.version, v3!.state, patchIds(db, v3!.id)], [3, 'superseded', []]);
  assert.deepEqual([v4!.version, v4!.series_id], [4, v3!.series_id]);
});

test('Mercurial patchbomb "[PATCH 0 of 2]", "[PATCH 1 of 2]", "[PATCH 2 of 2]": one series of 2 with its intro', () => {
  const db = freshDb();
  const file = 'hg-patchbomb-0-of-2.mbox';
  const [intro, ...patches] = idsOf(file);
  const summary = ingest(db, corpusMails(file));
  assert.deepEqual(summary.kinds, { cover: 1, patch: 2 });
  const all = versions(db);
  assert.equal(all.length, 1, 'one series, not one per patch');
  const v = all[0]!;
  assert.deepEqual(
    [v.version, v.total, v.state, v.cover_message_id, v.title],
    [1, 2, 'complete', intro, 'xen/sched: two knobs'],
  );
  assert.deepEqual(patchIds(db, v.id), patches);
  assert.equal(loadSeriesToCheck(db, v.id).author, 'Keir Mercurial <keir@example.com>');
});

test('unversioned patches under a v2 cover sent in reply to an incomplete v1 fill v2, not the gap in v1', () => {
  // Jane's v1 lost its 2/2; her v2 cover is tagged v2 but its patches say "[PATCH n/2]".
  const db = freshDb();
  const [v1cover, v1one] = corpusMails('victim-v1-0of2-cover-and-patches.mbox');
  const v2 = corpusMails('victim-v2-dmarc-rewritten-reply-to-v1-cover.mbox').map((m, i) =>
    i === 0
      ? m
      : Buffer.from(m.toString('latin1').replace(/^Subject: \[PATCH v2 /m, 'Subject: [PATCH '), 'latin1'),
  );
  ingest(db, [v1cover!, v1one!, ...v2]);
  const [first, second, ...rest] = versions(db);
  assert.equal(rest.length, 0);
  assert.deepEqual([first!.version, first!.state, JSON.parse(first!.missing)], [1, 'superseded', [2]]);
  assert.deepEqual(
    [second!.version, second!.state, second!.series_id, patchIds(db, second!.id)],
    [2, 'complete', first!.series_id, idsOf('victim-v2-dmarc-rewritten-reply-to-v1-cover.mbox').slice(1)],
  );
});
