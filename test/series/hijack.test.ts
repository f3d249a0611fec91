// Anyone can reply to anyone's thread. Mallory's "[PATCH v9 0/1]" sent in reply to Jane's
// cover letter must not become Jane's v9: that would supersede Jane's version, cancel its
// queued check, and have listci mail Jane a verdict on Mallory's code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from 'better-sqlite3';
import { cancelSuperseded, scheduleReady } from '../../src/daemon/schedule.ts';
import { loadSeriesToCheck } from '../../src/series/load.ts';
import { replyRecipients } from '../../src/report/message.ts';
import { corpusMails, freshDb, idsOf, ingest } from '../mail/corpus-helpers.ts';

const VICTIM_V1 = 'victim-v1-0of2-cover-and-patches.mbox';
const VICTIM_V2 = 'victim-v2-dmarc-rewritten-reply-to-v1-cover.mbox';
const HIJACK = ['v9-hijack-reply-to-other-authors-cover.eml', 'v9-hijack-1of1.eml'];

interface Version {
  id: number;
  series_id: number;
  version: number;
  state: string;
  superseded_by: number | null;
  author_addr: string;
  related_to: number | null;
}
const versionHeadedBy = (db: Database, messageId: string): Version =>
  db
    .prepare(
      `SELECT sv.id, sv.series_id, sv.version, sv.state, sv.superseded_by, s.author_addr, s.related_to
         FROM series_versions sv JOIN series s ON s.id = sv.series_id WHERE sv.head_message_id = ?`,
    )
    .get(messageId) as Version;
const runState = (db: Database, runId: number) =>
  db
    .prepare(
      `SELECT r.state AS run, j.state AS job FROM runs r JOIN jobs j ON j.kind = 'check' AND j.ref_id = r.id
        WHERE r.id = ?`,
    )
    .get(runId) as { run: string; job: string };

const hijackMails = (order: 'as sent' | 'patch first') => {
  const [cover, patch] = HIJACK.flatMap(corpusMails);
  return order === 'as sent' ? [cover!, patch!] : [patch!, cover!];
};

for (const order of ['as sent', 'patch first'] as const) {
  test(`v9 in reply to another author's cover (${order}): its own series; the victim's version and queued check stand`, () => {
    const db = freshDb();
    ingest(db, corpusMails(VICTIM_V1));
    const victim = versionHeadedBy(db, idsOf(VICTIM_V1)[0]!);
    assert.deepEqual(
      [victim.version, victim.state, victim.author_addr],
      [1, 'complete', 'jane.doe@example.org'],
    );
    const [queued, ...others] = scheduleReady(db, new Date(), 30);
    assert.equal(others.length, 0);
    assert.equal(queued!.versionId, victim.id);

    const summary = ingest(db, hijackMails(order));
    assert.deepEqual(summary.superseded, [], 'the v9 supersedes nothing');
    assert.deepEqual(
      cancelSuperseded(db),
      [],
      'and cancels nothing (the daemon runs this after every intake)',
    );
    const after = versionHeadedBy(db, idsOf(VICTIM_V1)[0]!);
    assert.deepEqual([after.state, after.superseded_by], ['complete', null]);
    assert.deepEqual(runState(db, queued!.runId), { run: 'queued', job: 'queued' });
    assert.equal(
      (
        db.prepare('SELECT count(*) AS n FROM series_versions WHERE series_id = ?').get(victim.series_id) as {
          n: number;
        }
      ).n,
      1,
      "nothing was added to Jane's series",
    );

    const attacker = versionHeadedBy(db, idsOf(HIJACK[0]!)[0]!);
    assert.notEqual(attacker.series_id, victim.series_id, 'a separate series');
    assert.deepEqual(
      [attacker.version, attacker.state, attacker.author_addr, attacker.related_to],
      [9, 'complete', 'mallory@example.net', victim.series_id],
      "Mallory's own complete v9, linked as related to Jane's",
    );
    const checked = loadSeriesToCheck(db, attacker.id);
    const to = replyRecipients({
      author: checked.author,
      listAddress: 'xen-devel@lists.xenproject.org',
      ccList: true,
      cc: [],
    }).to;
    assert.deepEqual(
      to,
      ['Mallory Hijack <mallory@example.net>'],
      'a verdict on it goes to Mallory, not Jane',
    );
    assert.deepEqual(
      checked.patches.map((p) => p.messageId),
      [idsOf(HIJACK[1]!)[0]],
    );
    assert.deepEqual(
      scheduleReady(db, new Date(), 30).map((s) => s.versionId),
      [attacker.id],
      "Mallory's series gets its own check",
    );
  });
}

test("the victim's own v2, From rewritten by the list for DMARC, is still her v2: it supersedes v1 and cancels its check", () => {
  const db = freshDb();
  ingest(db, corpusMails(VICTIM_V1));
  const [queued] = scheduleReady(db, new Date(), 30);
  ingest(db, hijackMails('as sent'));
  const attacker = versionHeadedBy(db, idsOf(HIJACK[0]!)[0]!);
  const [attackerRun] = scheduleReady(db, new Date(), 30);

  const summary = ingest(db, corpusMails(VICTIM_V2));
  const v1 = versionHeadedBy(db, idsOf(VICTIM_V1)[0]!);
  const v2 = versionHeadedBy(db, idsOf(VICTIM_V2)[0]!);
  assert.deepEqual(
    [v2.version, v2.state, v2.series_id, v2.author_addr],
    [2, 'complete', v1.series_id, 'jane.doe@example.org'],
    'the address behind "Jane Doe via Xen-devel" is Jane\'s',
  );
  assert.deepEqual([v1.state, v1.superseded_by], ['superseded', v2.id]);
  assert.deepEqual(summary.superseded, [v1.id]);
  assert.deepEqual(cancelSuperseded(db), [queued!.runId]);
  assert.deepEqual(runState(db, queued!.runId), { run: 'cancelled', job: 'cancelled' });
  const mallory = versionHeadedBy(db, idsOf(HIJACK[0]!)[0]!);
  assert.deepEqual(
    [mallory.state, mallory.series_id],
    ['complete', attacker.series_id],
    "Jane's v2 leaves Mallory's alone",
  );
  assert.deepEqual(runState(db, attackerRun!.runId), { run: 'queued', job: 'queued' });
});

test('a From the list rewrote beyond recovery names nobody: such a v9 continues no series, however alike the addresses', () => {
  // No Reply-To, no X-Original-From: both mails' author is the list address itself.
  const hide = (raw: Buffer) =>
    Buffer.from(
      raw
        .toString('latin1')
        .replace(/^From: (.*?) <[^>]+>$/m, 'From: $1 via Xen-devel <xen-devel@lists.xenproject.org>'),
      'latin1',
    );
  const db = freshDb();
  ingest(db, corpusMails(VICTIM_V1).map(hide));
  const victim = versionHeadedBy(db, idsOf(VICTIM_V1)[0]!);
  assert.equal(victim.author_addr, 'xen-devel@lists.xenproject.org');
  assert.equal(
    (db.prepare('SELECT count(*) AS n FROM patches WHERE version_id = ?').get(victim.id) as { n: number }).n,
    2,
    'its own thread still holds the posting together',
  );
  const [queued] = scheduleReady(db, new Date(), 30);
  const summary = ingest(db, hijackMails('as sent').map(hide));
  assert.deepEqual(summary.superseded, []);
  assert.deepEqual(cancelSuperseded(db), []);
  assert.deepEqual(runState(db, queued!.runId), { run: 'queued', job: 'queued' });
  const attacker = versionHeadedBy(db, idsOf(HIJACK[0]!)[0]!);
  assert.notEqual(attacker.series_id, victim.series_id);
  assert.equal(attacker.related_to, victim.series_id);
});

test("a stranger's [PATCH 2/2] in reply to a cover whose 2/2 is late does not fill the gap", () => {
  const db = freshDb();
  const [cover, one, two] = corpusMails(VICTIM_V1);
  const coverId = idsOf(VICTIM_V1)[0]!;
  ingest(db, [cover!, one!]);
  const filler = Buffer.from(
    corpusMails(HIJACK[1]!)[0]!
      .toString('latin1')
      .replace(/^Subject: \[PATCH v9 1\/1\]/m, 'Subject: [PATCH 2/2]')
      .replace(/^In-Reply-To: .*$/m, `In-Reply-To: <${coverId}>`)
      .replace(/^References: .*\n .*$/m, `References: <${coverId}>`),
    'latin1',
  );
  ingest(db, [filler]);
  const victim = versionHeadedBy(db, coverId);
  assert.deepEqual([victim.state, victim.superseded_by], ['incomplete', null]);
  assert.deepEqual(
    scheduleReady(db, new Date(), 30)
      .map((s) => s.versionId)
      .includes(victim.id),
    false,
  );
  ingest(db, [two!]);
  const done = db.prepare('SELECT state, missing FROM series_versions WHERE id = ?').get(victim.id);
  assert.deepEqual(done, { state: 'complete', missing: '[]' }, "Jane's own 2/2 completes it");
  const stranger = db
    .prepare(
      `SELECT s.author_addr, s.related_to FROM patches p JOIN series_versions sv ON sv.id = p.version_id
         JOIN series s ON s.id = sv.series_id WHERE p.message_id = ?`,
    )
    .get(idsOf(HIJACK[1]!)[0]!);
  assert.deepEqual(stranger, { author_addr: 'mallory@example.net', related_to: victim.series_id });
});
