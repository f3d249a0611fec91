import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from 'better-sqlite3';
import { loadSeriesToCheck } from '../../src/series/load.ts';
import { readyVersions } from '../../src/series/ready.ts';
import { deliver, freshDb, idOf } from '../mail/corpus-helpers.ts';

interface V {
  id: number;
  series_id: number;
  title: string;
  version: number;
  total: number;
  resend: number;
  state: string;
  missing: string;
  head_message_id: string;
  cover_message_id: string | null;
  superseded_by: number | null;
  reuses_version: number | null;
  tags: string;
}
const versions = (db: Database): V[] =>
  db
    .prepare(
      'SELECT sv.*, s.title FROM series_versions sv JOIN series s ON s.id = sv.series_id ORDER BY sv.id',
    )
    .all() as V[];
const patchesOf = (db: Database, id: number) =>
  (
    db.prepare('SELECT number FROM patches WHERE version_id = ? ORDER BY number').all(id) as {
      number: number;
    }[]
  ).map((r) => r.number);

const SERIES_A_V1 = ['series-a-v1-0of3-cover', 'series-a-v1-1of3', 'series-a-v1-2of3', 'series-a-v1-3of3'];
const SERIES_A_V2 = [
  'series-a-v2-0of3-cover-in-reply-to-v1-cover',
  'series-a-v2-1of3',
  'series-a-v2-2of3',
  'series-a-v2-3of3',
];

test('v2 sent in reply to v1 cover supersedes v1; both headed by their cover letters', () => {
  const db = freshDb();
  const res = deliver(db, [...SERIES_A_V1, 'reply-re-quoting-patch', ...SERIES_A_V2]);
  const [v1, v2, ...rest] = versions(db);
  assert.equal(rest.length, 0, 'the review reply creates no series');
  assert.equal(v1!.title, 'x86/hvm: tidy up emulation');
  assert.deepEqual(
    [v1!.version, v1!.total, v1!.head_message_id, v1!.state, v1!.superseded_by],
    [1, 3, idOf('series-a-v1-0of3-cover'), 'superseded', v2!.id],
  );
  assert.deepEqual(
    [v2!.version, v2!.total, v2!.head_message_id, v2!.state, v2!.superseded_by],
    [2, 3, idOf('series-a-v2-0of3-cover-in-reply-to-v1-cover'), 'complete', null],
  );
  assert.equal(v1!.series_id, v2!.series_id, 'one series, two versions');
  assert.deepEqual(patchesOf(db, v2!.id), [1, 2, 3]);
  assert.match(res.get('series-a-v2-0of3-cover-in-reply-to-v1-cover')!.rule!, /v2 in reply to v1/);
  assert.deepEqual(
    res.get('series-a-v2-0of3-cover-in-reply-to-v1-cover')!.superseded,
    [v1!.id],
    'daemon learns what to cancel',
  );
});

test('patches out of order and hours late: the cover still heads, complete once 1/2 and 2/2 are there', () => {
  const db = freshDb();
  const t0 = '2024-05-01T10:00:00.000Z';
  deliver(db, ['series-b-out-of-order-1of2'], t0);
  let [v] = versions(db);
  assert.deepEqual(
    [v!.state, JSON.parse(v!.missing), v!.head_message_id],
    ['incomplete', [2], idOf('series-b-out-of-order-1of2')],
  );
  deliver(db, ['series-b-out-of-order-0of2-cover', 'series-b-out-of-order-2of2-hours-late'], t0);
  const all = versions(db);
  assert.equal(all.length, 1, 'cover and late patch join the version patch 1/2 opened');
  v = all[0];
  assert.deepEqual(
    [v!.state, JSON.parse(v!.missing), v!.head_message_id, v!.cover_message_id, v!.title],
    [
      'complete',
      [],
      idOf('series-b-out-of-order-0of2-cover'),
      idOf('series-b-out-of-order-0of2-cover'),
      'xen/sched: rate limit',
    ],
  );
});

test('a series missing 3 of 4 waits, then is ready with missing [2, 3, 4]; a lone patch is ready at once', () => {
  const db = freshDb();
  const t0 = '2024-05-01T10:00:00.000Z';
  deliver(db, ['series-c-1of4-only-missing-2-3-4', 'lone-patch'], t0);
  const [c, lone] = versions(db);
  assert.deepEqual([c!.total, c!.state, JSON.parse(c!.missing)], [4, 'incomplete', [2, 3, 4]]);
  assert.equal(lone!.state, 'complete');
  assert.deepEqual(
    readyVersions(db, '2024-05-01T10:10:00.000Z', 30).map((r) => r.versionId),
    [lone!.id],
  );
  const later = readyVersions(db, '2024-05-01T10:31:00.000Z', 30);
  assert.deepEqual(later, [
    { versionId: c!.id, complete: false, missing: [2, 3, 4], reusesVersion: null },
    { versionId: lone!.id, complete: true, missing: [], reusesVersion: null },
  ]);
  db.prepare("INSERT INTO runs (version_id, queued_at) VALUES (?, '2024-05-01T10:32:00Z')").run(lone!.id);
  assert.deepEqual(
    readyVersions(db, '2024-05-01T10:40:00.000Z', 30).map((r) => r.versionId),
    [c!.id],
    'a version with a run is not handed out again',
  );
});

test('a RESEND of an identical patch is its own version and reuses the earlier one', () => {
  const db = freshDb();
  deliver(db, ['lone-patch', 'listci-own-reply', 'lone-patch-resend']);
  const [orig, resend, ...rest] = versions(db);
  assert.equal(rest.length, 0, "listci's own reply creates nothing");
  assert.equal(orig!.series_id, resend!.series_id);
  assert.deepEqual(
    [resend!.resend, resend!.reuses_version, resend!.state, orig!.state],
    [1, orig!.id, 'complete', 'complete'],
  );
});

test('unthreaded RFC patches group by author, version and total; tags kept for RFC, for-4.19 and XEN PATCH', () => {
  const db = freshDb();
  const res = deliver(db, [
    'rfc-unthreaded-2of2',
    'series-b-out-of-order-0of2-cover',
    'rfc-unthreaded-1of2',
    'for-4.19-v2-single',
    'xen-patch-prefix-1of2',
    'xen-patch-prefix-0of2-cover',
    'xen-patch-prefix-2of2',
  ]);
  assert.match(res.get('rfc-unthreaded-1of2')!.rule!, /^markers:/);
  const byHead = new Map(versions(db).map((v) => [v.head_message_id, v]));
  const rfc = byHead.get(idOf('rfc-unthreaded-1of2'))!;
  assert.deepEqual([rfc.state, JSON.parse(rfc.tags)], ['complete', ['rfc']]);
  assert.deepEqual(patchesOf(db, rfc.id), [1, 2]);
  const cover = byHead.get(idOf('series-b-out-of-order-0of2-cover'))!;
  assert.deepEqual(
    patchesOf(db, cover.id),
    [],
    'a plain cover 0/2 by the same author does not swallow the RFC patches',
  );
  const f = byHead.get(idOf('for-4.19-v2-single'))!;
  assert.deepEqual([f.version, f.total, f.state, JSON.parse(f.tags)], [2, 1, 'complete', ['for-4.19']]);
  const x = byHead.get(idOf('xen-patch-prefix-0of2-cover'))!;
  assert.deepEqual([x.state, JSON.parse(x.tags), patchesOf(db, x.id)], ['complete', ['xen'], [1, 2]]);
});

test('loadSeriesToCheck hands over cover, patches in order with raw bytes, author and tags', () => {
  const db = freshDb();
  deliver(db, [
    'series-a-v1-2of3',
    'series-a-v1-0of3-cover',
    'series-a-v1-3of3',
    'series-a-v1-1of3',
    'flowed-mangled-patch',
  ]);
  const [a, flowed] = versions(db);
  const s = loadSeriesToCheck(db, a!.id);
  assert.equal(s.title, 'x86/hvm: tidy up emulation');
  assert.equal(s.author, 'Jane Doe <jane.doe@example.org>');
  assert.equal(s.cover?.messageId, idOf('series-a-v1-0of3-cover'));
  assert.deepEqual(
    s.patches.map((p) => [p.number, p.total, p.messageId]),
    [1, 2, 3].map((n) => [n, 3, idOf(`series-a-v1-${n}of3`)]),
  );
  assert.ok(
    s.patches.every((p) => p.raw.includes('diff --git') || p.raw.includes('=')),
    'raw bytes are the stored mail',
  );
  assert.deepEqual(s.missing, []);
  const f = loadSeriesToCheck(db, flowed!.id);
  assert.match(f.patches[0]!.mangled!, /format=flowed/);
});
