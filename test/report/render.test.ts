import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { CheckResult } from '../../src/contract.ts';
import { renderReply, replySubject, type ReplyInput } from '../../src/report/render.ts';

const fixture = (name: string): CheckResult =>
  JSON.parse(readFileSync(new URL(`../fixtures/report/${name}`, import.meta.url), 'utf8')) as CheckResult;

function input(result: CheckResult, over: Partial<ReplyInput> = {}): ReplyInput {
  return {
    result,
    head: {
      subject: '[PATCH v2 0/3] xen/x86: split hvm cpu callbacks',
      messageId: '20240301101500.1234-1-jane@example.org',
      references: [],
      author: 'Jane Doe <jane@example.org>',
    },
    runId: 42,
    webUrl: 'https://ci.example.org/listci',
    reproduce: 'listci check --mbox v2-split-hvm-cpu-callbacks.mbox',
    from: 'listci <listci@ci.example.org>',
    ...over,
  };
}

test('two new duplicates under clang, none under gcc: the reply names each key, its objects and why', () => {
  const { subject, text } = renderReply(input(fixture('fail-two-new-duplicates-clang.json')));
  assert.equal(subject, 'Re: [PATCH v2 0/3] xen/x86: split hvm cpu callbacks');
  assert.equal(text.split('\n')[0], 'FAIL: 2 new duplicate symbols under clang-14.');
  assert.match(text, /^Base: {3}3f1c2b4a5d6e \(staging\), chosen by: default branch staging/m);
  assert.match(text, /^ {2}gcc-12 +pass +52s +0 +0$/m);
  assert.match(text, /^ {2}clang-14 +FAIL +1m01s +2 +0$/m);
  assert.match(
    text,
    /^ {2}vmx\.c#cpu_callback\n {4}defined in: arch\/x86\/hvm\/vmx\/vmx\.o, arch\/x86\/hvm\/vmx\/vmcs\.o/m,
  );
  assert.match(
    text,
    /^ {2}hvm_cpu_up\.constprop\.0\n {4}defined in: arch\/x86\/hvm\/hvm\.o, arch\/x86\/hvm\/svm\/svm\.o/m,
  );
  assert.equal((text.match(/^ {4}why: .*live patch cannot tell which/gm) ?? []).length, 2);
  assert.doesNotMatch(text, /New duplicate symbols under gcc-12/);
  // The base's own duplicate is counted, not blamed on the series.
  assert.doesNotMatch(text, /handle_exception/);
  assert.match(
    text,
    /Already in the base, not caused by this series: gcc-12: 1 duplicate symbol; clang-14: 1 duplicate symbol\./,
  );
  assert.match(text, /^ {2}Reported-by: listci <listci@ci\.example\.org>$/m);
  assert.match(text, /^ {2}Closes: https:\/\/ci\.example\.org\/listci\/runs\/42$/m);
  assert.match(text, /To reproduce locally:\n {2}listci check --mbox v2-split-hvm-cpu-callbacks\.mbox/);
});

test('the same result always renders to the same text (golden file)', () => {
  const want = readFileSync(
    new URL('../fixtures/report/fail-two-new-duplicates-clang.reply.txt', import.meta.url),
    'utf8',
  );
  assert.equal(renderReply(input(fixture('fail-two-new-duplicates-clang.json'))).text, want);
});

test('a pass says so first, lists each toolchain, and asks for no tags', () => {
  const { text } = renderReply(input(fixture('pass-gcc-clang.json'), { webUrl: null }));
  assert.equal(
    text.split('\n')[0],
    'PASS: the series applied and built with live patching under gcc-12, clang-14; no new duplicate symbols.',
  );
  assert.match(text, /^ {2}clang-14 +pass +2m05s/m);
  assert.doesNotMatch(text, /Reported-by|Closes|https?:/);
});

test("an apply failure names patch 2/3, the conflicting file and git's own words", () => {
  const { text } = renderReply(input(fixture('apply-failure-2-of-3.json')));
  assert.equal(text.split('\n')[0], 'FAIL: patch 2/3 does not apply to the base.');
  assert.match(text, /Patch 2\/3 "x86\/vmx: add cpu_callback" <20240301101500\.1234-3-jane@example\.org>/);
  assert.match(text, /did not apply: 1 of 3 patches went in before it\./);
  assert.match(text, /Conflicts in: xen\/arch\/x86\/hvm\/vmx\/vmx\.c/);
  assert.match(text, /1 later patch was not tried\./);
  assert.match(text, /^ {4}error: patch failed: xen\/arch\/x86\/hvm\/vmx\/vmx\.c:112$/m);
  assert.doesNotMatch(text, /Builds \(/, 'nothing was built, so no build table');
  assert.doesNotMatch(text, /Reported-by/);
});

test('a mangled patch blames the mail client, not a conflict', () => {
  const { text } = renderReply(input(fixture('mangled-patch-2-of-3.json')));
  assert.equal(
    text.split('\n')[0],
    'FAIL: patch 2/3 was damaged by the mail client, not by a conflict with the base: format=flowed re-wrapped the patch (lines end in a space).',
  );
  assert.match(text, /git send-email/);
  assert.doesNotMatch(text, /Conflicts in|rebase/);
});

test("a bot error says it is listci's fault and asks nothing of the author", () => {
  const { text } = renderReply(input(fixture('bot-error-missing-image.json')));
  const lines = text.split('\n');
  assert.equal(lines[0], "ERROR (listci's fault, not the series'): listci could not check this series.");
  assert.equal(lines[1], '  gcc-12: podman: image listci/gcc-12 not found (run `listci images build`)');
  assert.match(text, /no action is needed from the author/);
  assert.match(text, /^ {2}clang-14 +error \(listci\) +-/m);
  assert.doesNotMatch(text, /FAIL|Reported-by|rebase/);
});

test('a build error shows file:line and only the head and tail of a long log', () => {
  const result = fixture('pass-gcc-clang.json');
  const gcc = result.builds[0]!;
  const log = Array.from({ length: 400 }, (_, i) => `make[3]: line ${i} of the compiler's output`).join('\n');
  gcc.status = 'fail';
  gcc.errors = [
    {
      kind: 'compiler-error',
      file: 'xen/arch/x86/hvm/vmx/vmx.c',
      line: 1234,
      message: "'cpu_callback' redeclared as different kind of symbol",
      excerpt: log,
      status: 'new',
    },
  ];
  result.verdict = 'fail';
  const { text } = renderReply(input(result));
  assert.equal(text.split('\n')[0], 'FAIL: 1 new build error under gcc-12.');
  assert.match(
    text,
    /^ {2}xen\/arch\/x86\/hvm\/vmx\/vmx\.c:1234: compiler-error: 'cpu_callback' redeclared/m,
  );
  assert.match(text, /line 0 of the compiler's output/);
  assert.match(text, /line 399 of the compiler's output/);
  assert.match(text, /\[\.\.\. \d+ lines cut \.\.\.\]/);
  assert.ok(text.length < 4000, `reply is ${text.length} characters`);
});

test('"Re:" is added once, never doubled', () => {
  assert.equal(replySubject('Re: RE: [PATCH] x'), 'Re: [PATCH] x');
  assert.equal(replySubject('[PATCH] x'), 'Re: [PATCH] x');
});
