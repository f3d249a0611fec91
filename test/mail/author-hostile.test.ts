// From, Cc and X-Original-From are written by whoever sends the mail. Before header lines
// were cut and the address parser made linear, a 167 KB From of encoded words froze the
// event loop for 4 to 8 s, and one of "=?a?q?" repeated for over two minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XEN_DEVEL_ADDRESSES } from '../../src/config/schema.ts';
import { authorOf, isPlainAddress, parseAddress } from '../../src/mail/author.ts';
import { MAX_HEADER_CHARS, parseMessage } from '../../src/mail/parse.ts';

const TEN_MB = 10 * 1000 * 1000; // under parse.ts's 10 MiB mail limit: the whole mail is parsed

const fill = (unit: string, size = TEN_MB) => unit.repeat(Math.ceil(size / unit.length));

const timed = <T>(what: string, f: () => T): T => {
  const start = performance.now();
  const out = f();
  const ms = performance.now() - start;
  console.log(`${what}: ${ms.toFixed(0)} ms`);
  assert.ok(ms < 1000, `${what} took ${ms.toFixed(0)} ms`);
  return out;
};

const mail = (headers: string): Buffer =>
  Buffer.from(
    `${headers}\r\nSubject: [PATCH] x86: tidy\r\nMessage-ID: <hostile@example.org>\r\n` +
      `Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n`,
    'latin1',
  );

const encodedName = fill('=?utf-8?q?J=C3=A9r=C3=B4me?= ');

test('a 10 MB From is cut at the documented limit and the mail marked, in well under a second', () => {
  const cases: [string, string, string | null][] = [
    ['encoded words, then the address', `From: ${encodedName}<eve@example.org>`, null],
    [
      'address first, a 10 MB comment after it',
      `From: jane@example.org (${encodedName})`,
      'jane@example.org',
    ],
    ['"=?a?q?" repeated', `From: ${fill('=?a?q?')}`, null],
    ['"a@" repeated', `From: ${fill('a@')}`, null],
    ['blanks inside a quote', `From: "${fill(' ')}x`, null],
    ['angle brackets', `From: ${fill('<a@')}>`, null],
  ];
  for (const [what, header, addr] of cases) {
    const msg = timed(`parseMessage + authorOf: From of ${what}`, () => {
      const m = parseMessage(mail(header));
      return { m, author: authorOf(m, XEN_DEVEL_ADDRESSES) };
    });
    assert.match(
      msg.m.error ?? '',
      new RegExp(`the from header is \\d+ KB, cut at ${MAX_HEADER_CHARS / 1024} KB`),
    );
    assert.equal(msg.m.fromAddr, addr, what);
    assert.equal(msg.author.addr, addr ?? 'unknown@invalid', what);
    assert.equal(msg.m.subject, '[PATCH] x86: tidy', `${what}: the other headers are read`);
    assert.equal(msg.m.messageId, 'hostile@example.org');
  }
});

test('behind a DMARC-rewritten From, a 10 MB Cc or X-Original-From costs well under a second', () => {
  const from = 'From: Jane Doe via Xen-devel <xen-devel@lists.xenproject.org>';
  for (const [what, header] of [
    ['Cc', `Cc: ${fill('Jane Doe <x,')}`],
    ['X-Original-From', `X-Original-From: ${fill('a@')}`],
    ['Reply-To', `Reply-To: ${fill(' ')}jane@example.org`],
  ]) {
    const { m, author } = timed(`authorOf: DMARC From with a 10 MB ${what}`, () => {
      const m = parseMessage(mail(`${from}\r\n${header}`));
      return { m, author: authorOf(m, XEN_DEVEL_ADDRESSES) };
    });
    assert.match(m.error ?? '', /cut at 64 KB/);
    // Nothing readable in what is left: the list's address stands, under the sender's name.
    assert.deepEqual(author, { name: 'Jane Doe', addr: 'xen-devel@lists.xenproject.org' }, what);
  }
});

test('parseAddress alone stays linear on 10 MB values and still finds the address', () => {
  const cases: [string, string, string | null][] = [
    [
      'decoded encoded words, then the address',
      `${fill('Jérôme ')}<jerome@example.org>`,
      'jerome@example.org',
    ],
    ['no "@" at all', fill('x'), null],
    ['"a@" repeated', fill('a@'), null],
    ['"<" repeated, one ">"', `${fill('<')}>`, null],
    ['">" repeated', `<${fill('>')}`, null],
    ['bracketed non-addresses', fill('a <b c> '), null],
    ['many words, then a bare address', `${fill('x ')}real@example.org`, 'real@example.org'],
    ['address, then a long comment', `real@example.org (${fill(')')}`, 'real@example.org'],
    ['blanks', `"${fill(' ')}"`, null],
  ];
  for (const [what, value, addr] of cases) {
    const got = timed(`parseAddress: ${what}`, () => parseAddress(value));
    assert.equal(got.addr, addr, what);
  }
  const named = parseAddress(`${fill('Jérôme ', 1_000_000)}<jerome@example.org>`);
  assert.match(named.name!, /^Jérôme Jérôme .*Jérôme$/);
});

test('ordinary forms parse as before; a name never carries a line break', () => {
  const cases: [string, { name: string | null; addr: string | null }][] = [
    ['Jane Doe <Jane.Doe@Example.org>', { name: 'Jane Doe', addr: 'jane.doe@example.org' }],
    ['"Doe, Jane" <jane@example.org>', { name: 'Doe, Jane', addr: 'jane@example.org' }],
    ['"v@x, b@y" <eve@z.example>', { name: 'v@x, b@y', addr: 'eve@z.example' }],
    ['"Jane \\"JD\\" Doe" <jane@example.org>', { name: 'Jane "JD" Doe', addr: 'jane@example.org' }],
    ['jane@example.org (Jane Doe)', { name: 'Jane Doe', addr: 'jane@example.org' }],
    ['jane@example.org', { name: null, addr: 'jane@example.org' }],
    ['<jane@example.org>', { name: null, addr: 'jane@example.org' }],
    ["Jane <o'brien+xen@example.org>", { name: 'Jane', addr: "o'brien+xen@example.org" }],
    ['Eve\r\nBcc: x@y <eve@example.org>', { name: 'Eve Bcc: x@y', addr: 'eve@example.org' }],
    ['Eve\u0000 <eve@example.org>', { name: 'Eve', addr: 'eve@example.org' }],
    // Brackets around more than one address, or none: nobody listci could reply to.
    ['Eve <v@x.example,b@y.example>', { name: null, addr: null }],
    ['Eve <a;b@x.example>', { name: null, addr: null }],
    ['Eve <root>', { name: null, addr: null }],
    ['', { name: null, addr: null }],
  ];
  for (const [value, want] of cases) assert.deepEqual(parseAddress(value), want, JSON.stringify(value));
  for (const a of ['a@b', "o'brien@example.org", 'x+y@sub.example.org']) assert.ok(isPlainAddress(a), a);
  for (const a of ['a@b@c', '@b', 'a@', 'a b@c', 'a,b@c', '"a"@c', 'a@[1.2.3.4]', `${'a'.repeat(320)}@b`])
    assert.ok(!isPlainAddress(a), a);
});

test('an encoded-word name with CR LF in it stays one line', () => {
  const m = parseMessage(mail('From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Eorg?= <eve@example.org>'));
  assert.equal(m.error, null);
  assert.equal(m.fromAddr, 'eve@example.org');
  assert.equal(m.fromName, 'Eve Bcc: victim@example.org');
});

test('a Date, Message-ID or Content-Type over 998 characters is cut there: a "(" flood once took parseDate 10 s', () => {
  for (const [name, value] of [
    ['Date', fill('(', 70_000)],
    ['Message-ID', `<${fill('m', 70_000)}@x>`],
    ['In-Reply-To', fill(' <a@b', 70_000)],
    ['Content-Type', `multipart/mixed; boundary="${fill('"', 70_000)}`],
  ] as const) {
    const m = timed(`parseMessage: ${name} of 70 KB`, () =>
      parseMessage(
        Buffer.from(`From: Jane <jane@example.org>\r\n${name}: ${value}\r\n\r\nbody\r\n`, 'latin1'),
      ),
    );
    assert.match(
      m.error ?? '',
      new RegExp(`the ${name.toLowerCase()} header is \\d+ characters, cut at 998`),
    );
    assert.equal(m.fromAddr, 'jane@example.org');
  }
  const ordinary = parseMessage(
    Buffer.from(
      'From: Jane <jane@example.org>\r\nDate: Fri, 1 Mar 2024 10:15:00 +0000 (UTC)\r\n\r\nbody\r\n',
    ),
  );
  assert.equal(ordinary.date, '2024-03-01T10:15:00.000Z');
});
