import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { storeRawMessage } from '../../src/ingest/store.ts';
import { processStoredMessage } from '../../src/ingest/process.ts';
import { CORPUS, cfg, deliver, eml, freshDb, ingest } from './corpus-helpers.ts';

// What a maintainer expects listci to make of every mail in the corpus.
const EXPECTED: Record<string, [kind: string, reason: RegExp]> = {
  'discussion-other': ['other', /no diff/],
  'flowed-mangled-patch': ['patch', /diff --git/],
  'for-4.19-v2-single': ['patch', /diff --git/],
  'git-pull-request': ['pull', /GIT PULL/],
  'huge-total-1-of-5000000': ['malformed', /^numbered 1\/5000000: over series\.maxPatches \(200\)/],
  'listci-own-reply': ['report', /X-Listci-Run/],
  'lone-patch': ['patch', /diff --git/],
  'lone-patch-resend': ['patch', /diff --git/],
  'malformed-binary-garbage': ['malformed', /binary data/],
  'malformed-invalid-utf8-header': ['malformed', /invalid UTF-8 in the subject header/],
  'malformed-no-message-id': ['malformed', /no Message-ID header/],
  'malformed-truncated-mime': [
    'malformed',
    /truncated MIME: multipart\/mixed boundary "cut" is never closed/,
  ],
  'osstest-flight-report': ['report', /osstest flight report/],
  'patch-as-attachment-dmarc-from': [
    'patch',
    /attached as text\/x-patch 0001-xen-console-attachment-knob.patch/,
  ],
  'reply-re-quoting-patch': ['reply', /Re:/],
  'reply-without-re-quoting-patch': ['reply', /quotes a patch/],
  'rfc-unthreaded-1of2': ['patch', /diff --git/],
  'rfc-unthreaded-2of2': ['patch', /diff --git/],
  'series-a-v1-0of3-cover': ['cover', /cover letter 0\/3/],
  'series-a-v1-1of3': ['patch', /diff --git/],
  'series-a-v1-2of3': ['patch', /diff --git/],
  'series-a-v1-3of3': ['patch', /diff --git/],
  'series-a-v2-0of3-cover-in-reply-to-v1-cover': ['cover', /cover letter 0\/3/],
  'series-a-v2-1of3': ['patch', /diff --git/],
  'series-a-v2-2of3': ['patch', /diff --git/],
  'series-a-v2-3of3': ['patch', /diff --git/],
  'series-b-out-of-order-0of2-cover': ['cover', /cover letter 0\/2/],
  'series-b-out-of-order-1of2': ['patch', /diff --git/],
  'series-b-out-of-order-2of2-hours-late': ['patch', /diff --git/],
  'series-c-1of4-only-missing-2-3-4': ['patch', /diff --git/],
  'v9-hijack-1of1': ['patch', /diff --git/],
  'v9-hijack-reply-to-other-authors-cover': ['cover', /cover letter 0\/1/],
  'xen-patch-prefix-0of2-cover': ['cover', /cover letter 0\/2/],
  'xen-patch-prefix-1of2': ['patch', /diff --git/],
  'xen-patch-prefix-2of2': ['patch', /diff --git/],
};

test('the corpus has at least 30 mails and every one has an expected kind', () => {
  const files = readdirSync(CORPUS)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => f.slice(0, -4))
    .sort();
  assert.ok(files.length >= 30, `only ${files.length} mails`);
  assert.deepEqual(files, Object.keys(EXPECTED).sort());
});

test('every corpus mail is classified as a maintainer would, with the reason stored', () => {
  const db = freshDb();
  deliver(db, Object.keys(EXPECTED));
  const rows = db.prepare('SELECT message_id, kind, kind_reason, own, error FROM messages').all() as {
    kind: string;
    kind_reason: string;
    own: number;
    error: string | null;
    message_id: string;
  }[];
  assert.equal(rows.length, Object.keys(EXPECTED).length, 'every mail is stored, broken ones too');
  for (const [name, [kind, reason]] of Object.entries(EXPECTED)) {
    const s = storeRawMessage(db, eml(name), 'again');
    const row = db.prepare('SELECT kind, kind_reason, error FROM messages WHERE id = ?').get(s.id) as {
      kind: string;
      kind_reason: string;
      error: string | null;
    };
    assert.equal(row.kind, kind, `${name}: kind (${row.kind_reason})`);
    assert.match(row.kind_reason, reason, `${name}: reason`);
    // A mail that parsed but is not believed (a 1/5000000 numbering) has no parse error.
    const parseFailed = kind === 'malformed' && !/maxPatches/.test(row.kind_reason);
    assert.equal(row.error !== null, parseFailed, `${name}: error column set only when parsing failed`);
  }
  assert.deepEqual(
    rows.filter((r) => r.own).map((r) => r.message_id),
    ['listci-run-1@example.org'],
    'own mail flagged',
  );
});

test('headers are decoded: author behind a DMARC-rewritten From on the other xen-devel domain, dates in UTC', () => {
  const db = freshDb();
  deliver(db, ['patch-as-attachment-dmarc-from', 'series-a-v2-1of3']);
  const attach = db
    .prepare("SELECT from_name, from_addr FROM messages WHERE message_id = 'attach-1@example.com'")
    .get();
  assert.deepEqual(attach, { from_name: 'Alice Attach', from_addr: 'alice@example.com' });
  const v2 = db
    .prepare("SELECT subject, date, refs, tags FROM messages WHERE subject LIKE '%v2 1/3%'")
    .get() as {
    subject: string;
    date: string;
    refs: string;
    tags: string;
  };
  assert.equal(v2.subject, '[PATCH v2 1/3] x86/hvm: add hvm_tidy()');
  assert.match(v2.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  assert.equal(JSON.parse(v2.refs).length, 2, 'References: v1 cover, v2 cover');
  assert.deepEqual(JSON.parse(v2.tags), {
    prefixes: ['PATCH'],
    version: 2,
    number: 1,
    total: 3,
    resend: false,
    rfc: false,
    title: 'x86/hvm: add hvm_tidy()',
  });
});

test("the list's addresses come from the config: on another list, xen-devel's address is an author like any other", () => {
  const db = freshDb();
  ingest(db, [eml('patch-as-attachment-dmarc-from')], {
    ...cfg,
    list: { name: 'foo-dev', addresses: ['foo-dev@lists.example.org'], subjectPrefix: 'foo-dev' },
  });
  const row = db.prepare("SELECT from_addr FROM messages WHERE message_id = 'attach-1@example.com'").get();
  assert.deepEqual(row, { from_addr: 'xen-devel@lists.xen.org' });
});

test('a base64 and a quoted-printable patch decode to the diff git am will see', () => {
  const db = freshDb();
  deliver(db, ['series-a-v1-1of3', 'series-a-v2-1of3']);
  const kinds = db.prepare('SELECT kind FROM messages ORDER BY id').all();
  assert.deepEqual(kinds, [{ kind: 'patch' }, { kind: 'patch' }]);
});

test('a format=flowed patch with a re-wrapped long line is marked mangled, naming the file', () => {
  const db = freshDb();
  deliver(db, ['flowed-mangled-patch', 'lone-patch']);
  const rows = db.prepare('SELECT subject, mangled FROM messages ORDER BY id').all() as {
    mangled: string | null;
  }[];
  assert.match(rows[0]!.mangled!, /^format=flowed re-wrapped the patch: .*xen\/common\/sched\.c/);
  assert.equal(rows[1]!.mangled, null, 'a clean patch is not flagged');
});

test('a 20 MB mail is stored whole and marked, and ingestion goes on', () => {
  const db = freshDb();
  const big = Buffer.concat([
    Buffer.from(
      'From: Jane Doe <jane.doe@example.org>\nSubject: [PATCH] huge\nMessage-ID: <huge-1@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n',
    ),
    Buffer.alloc(20 * 1024 * 1024, 'a'),
  ]);
  const s = storeRawMessage(db, big, 'test');
  const t0 = Date.now();
  const r = processStoredMessage(db, s.id, cfg);
  assert.ok(Date.now() - t0 < 2000, 'a huge mail is not parsed slowly');
  assert.equal(r.kind, 'malformed');
  assert.match(r.reason, /mail is 20\.0 MB, over the 10 MB limit/);
  const row = db.prepare('SELECT size, subject FROM messages WHERE id = ?').get(s.id) as {
    size: number;
    subject: string;
  };
  assert.equal(row.size, big.length, 'exact bytes kept');
  assert.equal(row.subject, '[PATCH] huge', 'headers still read');
  const next = deliver(db, ['lone-patch']).get('lone-patch')!;
  assert.equal(next.kind, 'patch');
});

test('processing the same stored row twice changes nothing', () => {
  const db = freshDb();
  const names = Object.keys(EXPECTED);
  deliver(db, names);
  const snap = () =>
    JSON.stringify([
      db
        .prepare(
          'SELECT id, subject, from_addr, date, refs, kind, kind_reason, tags, mangled, error, own FROM messages ORDER BY id',
        )
        .all(),
      db.prepare('SELECT * FROM series ORDER BY id').all(),
      db.prepare('SELECT * FROM series_versions ORDER BY id').all(),
      db.prepare('SELECT * FROM patches ORDER BY id').all(),
    ]);
  const before = snap();
  for (const { id } of db.prepare('SELECT id FROM messages').all() as { id: number }[])
    processStoredMessage(db, id, cfg);
  assert.equal(snap(), before);
});
