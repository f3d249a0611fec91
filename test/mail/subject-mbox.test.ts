import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XEN_DEVEL_SUBJECT_PREFIX } from '../../src/config/schema.ts';
import { parseSubject, stripReplyPrefixes } from '../../src/mail/subject.ts';
import { parseMessage } from '../../src/mail/parse.ts';
import { splitMbox } from '../../src/ingest/mbox.ts';
import { eml } from './corpus-helpers.ts';

const cases: [string, Partial<ReturnType<typeof parseSubject>>][] = [
  ['[PATCH] xen: fix', { version: 1, number: null, total: null, title: 'xen: fix', prefixes: ['PATCH'] }],
  ['[PATCH v3 2/7] x86/mm: tidy', { version: 3, number: 2, total: 7, title: 'x86/mm: tidy' }],
  ['[RFC PATCH] idea', { rfc: true, prefixes: ['RFC', 'PATCH'] }],
  ['[PATCH RESEND] again', { resend: true, title: 'again' }],
  ['[XEN PATCH v2 1/2] a', { version: 2, number: 1, total: 2, prefixes: ['XEN', 'PATCH'] }],
  ['[PATCH for-4.19 v2] b', { version: 2, prefixes: ['PATCH', 'for-4.19'] }],
  ['[PATCH 01/10] c', { number: 1, total: 10 }],
  ['PATCH1/8 d', { number: 1, total: 8, patch: true, title: 'd' }],
  ['[PATCHv4 0/3] e', { version: 4, number: 0, total: 3 }],
  ['Re: [PATCH v2 3/4] f', { reply: true, version: 2, number: 3, title: 'f' }],
  ['RE: AW: [Xen-devel] [PATCH] g', { reply: true, prefixes: ['PATCH'], title: 'g' }],
  ['[GIT PULL] h', { patch: false, prefixes: ['GIT', 'PULL'] }],
  ['[PATCH v2] [RFC] two groups', { version: 2, rfc: true, title: 'two groups' }],
  // Mercurial's patchbomb (hg email), as Xen's patches were sent before git.
  ['[PATCH 0 of 2] xen/sched: two knobs', { number: 0, total: 2, title: 'xen/sched: two knobs' }],
  ['[PATCH 01 of 12 V2] i', { version: 2, number: 1, total: 12, prefixes: ['PATCH'] }],
  ['[PATCH] one of 2 ways', { number: null, total: null, title: 'one of 2 ways' }],
];
for (const [subject, want] of cases) {
  test(`subject "${subject}"`, () => {
    const got = parseSubject(subject, XEN_DEVEL_SUBJECT_PREFIX);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof typeof got], v, k);
  });
}

test("the list's own subject tag comes from the config: another list's is dropped the same way", () => {
  assert.deepEqual(parseSubject('[Foo-Dev] [PATCH v2] x', 'foo-dev').prefixes, ['PATCH']);
  assert.deepEqual(parseSubject('[Xen-devel] [PATCH v2] x', 'foo-dev').prefixes, ['Xen-devel', 'PATCH']);
  assert.deepEqual(parseSubject('[Xen-devel] [PATCH v2] x', null).prefixes, ['Xen-devel', 'PATCH']);
});

test('one list of reply prefixes: parseSubject flags them, stripReplyPrefixes drops them', () => {
  for (const s of ['Re: AW: [PATCH] x', 'SV: Antw: [PATCH] x', 'Re[2]: Fwd: [PATCH] x']) {
    assert.equal(parseSubject(s).reply, true, s);
    assert.equal(stripReplyPrefixes(s), '[PATCH] x', s);
  }
  assert.equal(stripReplyPrefixes('  [PATCH] Re: not a prefix  '), '[PATCH] Re: not a prefix');
});

test('quoted-printable and base64 patches decode to the diff git format-patch wrote', () => {
  const qp = parseMessage(eml('series-a-v1-1of3'));
  const b64 = parseMessage(eml('series-a-v2-1of3'));
  assert.match(qp.body, /^\+static void hvm_tidy\(void\) \{\}$/m);
  assert.match(b64.body, /^\+static void hvm_tidy\(void\) \{ \/\* v2 \*\/ \}$/m);
  assert.equal(qp.error, null);
  assert.equal(b64.error, null);
});

test('mbox: postmark lines split messages, >From is unescaped, a "From now on" line in a body is not a split', () => {
  const mbox = Buffer.from(
    'From 1a2b3c Mon Sep 17 00:00:00 2001\nSubject: one\nMessage-ID: <1@x>\n\nFrom now on\n>From the start\n>>From quoted\n\n' +
      'From jane@example.org Tue Jan  2 10:00:00 2024\nSubject: two\nMessage-ID: <2@x>\n\nbody two\n',
  );
  const rd = [...splitMbox(mbox)].map(String);
  assert.equal(rd.length, 2);
  assert.equal(rd[0], 'Subject: one\nMessage-ID: <1@x>\n\nFrom now on\nFrom the start\n>From quoted\n');
  assert.equal(rd[1], 'Subject: two\nMessage-ID: <2@x>\n\nbody two\n');
  const o = [...splitMbox(mbox, 'mboxo')].map(String);
  assert.match(o[0]!, /^>>From quoted$/m, 'mboxo leaves >>From alone');
});
