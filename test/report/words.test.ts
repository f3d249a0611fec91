// One result, one set of words: the verdict's summary, the reply and `listci check`'s summary
// count the same findings the same way. Plain data: a Xen build log and the duplicate the
// symbol table showed, through the pipeline's own comparison.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ToolchainBuild } from '../../src/build/toolchain-build.ts';
import { parseBuildLog } from '../../src/checks/index.ts';
import type { BuildReport, CheckResult } from '../../src/contract.ts';
import { reportBuilds, type BuildFindings } from '../../src/pipeline/report-builds.ts';
import { summaryText } from '../../src/pipeline/summary-text.ts';
import { decideVerdict, withToolchainVerdicts } from '../../src/pipeline/verdict.ts';
import { renderReply } from '../../src/report/render.ts';
import { newErrors } from '../../src/result-words.ts';

const XEN_LINE = "Duplicate symbol 'counter.o#probe_counter' (ffff82d040201000 != ffff82d040202000)";
/** The tail of a Xen build that --error-dup stopped, as tools/symbols and make print it. */
const LOG = [
  '  LD      .xen-syms.1',
  XEN_LINE,
  'make[3]: *** [arch/x86/Makefile:150: xen-syms] Error 1',
  'make[2]: *** [Makefile:610: xen] Error 2',
].join('\n');
const DUPLICATE = {
  key: 'counter.o#probe_counter',
  addresses: ['ffff82d040201000', 'ffff82d040202000'],
  objects: ['common/counter.o', 'drivers/counter.o'],
};

const fixture = (): CheckResult =>
  JSON.parse(
    readFileSync(new URL('../fixtures/report/pass-gcc-clang.json', import.meta.url), 'utf8'),
  ) as CheckResult;

function toolchainBuild(phase: 'baseline' | 'series', status: 'pass' | 'fail', check: BuildFindings) {
  return {
    toolchain: 'gcc-12',
    arch: 'x86_64',
    phase,
    status,
    durationMs: 60_000,
    cached: false,
    botError: null,
    logPath: null,
    buildDir: `/work/builds/gcc-12/0/${phase}`,
    recipe: null,
    confirmedClean: null,
    mode: null,
    stopped: null,
    start: null,
    check,
  } satisfies ToolchainBuild;
}

/** A result as the pipeline assembles it, with these builds. */
function resultWith(builds: BuildReport[]): CheckResult {
  const r = fixture();
  r.builds = withToolchainVerdicts(builds);
  Object.assign(r, decideVerdict(r.apply, r.builds));
  return r;
}

const reply = (r: CheckResult): string =>
  renderReply({
    result: r,
    head: { subject: '[PATCH] x', messageId: 'a@b', references: [], author: 'A <a@b.org>' },
    runId: 7,
    webUrl: null,
    reproduce: 'listci check --mbox series.mbox',
    from: 'listci <listci@example.org>',
  }).text;

test("a branch adding a duplicate: Xen's own line is its evidence, not a second finding", () => {
  const empty = { duplicates: [], fileCollisions: [], errors: [], problems: [] };
  const series = { ...empty, duplicates: [DUPLICATE], errors: parseBuildLog(LOG) };
  assert.deepEqual(
    series.errors.map((e) => e.kind),
    ['duplicate-check'],
    'the log holds Xen\'s line (make\'s "Error 1" adds nothing)',
  );
  const r = resultWith(
    reportBuilds([toolchainBuild('baseline', 'pass', empty)], [toolchainBuild('series', 'fail', series)]),
  );
  const gcc = r.builds.find((b) => b.phase === 'series')!;
  assert.equal(gcc.duplicates.new.length, 1);
  assert.equal(gcc.duplicates.new[0]!.xenLine, XEN_LINE);
  assert.deepEqual(gcc.errors, [], 'counted once: as the duplicate');
  assert.equal(r.verdict, 'fail');
  assert.equal(r.summary, 'fail: 1 new duplicate symbol under gcc-12');

  const text = reply(r);
  assert.equal(text.split('\n')[0], 'FAIL: 1 new duplicate symbol under gcc-12.');
  assert.match(text, /^ {2}gcc-12 +FAIL +1m00s +1 +0$/m);
  assert.match(
    text,
    /^ {2}counter\.o#probe_counter\n {4}defined in: common\/counter\.o, drivers\/counter\.o/m,
  );
  assert.match(text, new RegExp(`^ {4}Xen's check: ${XEN_LINE.replace(/[()]/g, '\\$&')}$`, 'm'));
  assert.doesNotMatch(text, /New build errors|new build error/);

  const cli = summaryText(r);
  assert.match(cli, /^gcc-12 +fail +60\.0 s +1 +0 +0$/m);
  assert.match(cli, /^ {2}Xen's check: Duplicate symbol 'counter\.o#probe_counter'/m);
  assert.doesNotMatch(cli, /duplicate-check/);
});

test("a result stored before the fold (Xen's line still an error) is counted once too", () => {
  const r = fixture();
  const gcc = r.builds.find((b) => b.phase === 'series' && b.toolchain === 'gcc-12')!;
  gcc.status = 'fail';
  gcc.duplicates.new = [{ ...DUPLICATE, status: 'new' }];
  gcc.errors = [{ ...parseBuildLog(LOG)[0]!, status: 'new' }];
  assert.deepEqual(newErrors(gcc), []);
  const judged = resultWith(r.builds);
  assert.equal(judged.summary, 'fail: 1 new duplicate symbol under gcc-12');
  assert.match(reply(judged), /^ {2}gcc-12 +FAIL +52s +1 +0$/m);
});

test('one new warning: the table says 0 new errors and no text calls it a build error', () => {
  const r = fixture();
  const gcc = r.builds.find((b) => b.phase === 'series' && b.toolchain === 'gcc-12')!;
  gcc.errors = [
    {
      kind: 'compiler-warning',
      file: 'xen/common/counter.c',
      line: 12,
      message: "unused variable 'n' [-Wunused-variable]",
      excerpt: "xen/common/counter.c:12:9: warning: unused variable 'n' [-Wunused-variable]",
      status: 'new',
    },
  ];
  const judged = resultWith(r.builds);
  assert.equal(judged.verdict, 'pass', 'a warning fails nothing');
  const text = reply(judged);
  assert.match(text, /^ {2}gcc-12 +pass +52s +0 +0$/m);
  assert.doesNotMatch(text, /New build errors/);
  assert.match(
    text,
    /^New compiler warnings under gcc-12 \(they do not fail the series\):\n {2}xen\/common\/counter\.c:12: compiler-warning: unused variable 'n'/m,
  );
  assert.match(summaryText(judged), /^gcc-12 +pass +52\.3 s +0 +0 +1$/m);
});

test('the base line and the patch that failed read the same in the reply and the CLI', () => {
  const r = fixture();
  const base = '3f1c2b4a5d6e (staging), chosen by: default branch staging (no base-commit trailer)';
  assert.match(reply(r), new RegExp(`^Base: {3}${base.replace(/[()]/g, '\\$&')}$`, 'm'));
  assert.match(summaryText(r), new RegExp(`^base: ${base.replace(/[()]/g, '\\$&')}$`, 'm'));
  r.apply = {
    ...r.apply!,
    ok: false,
    applied: 1,
    failedPatch: { number: 2, total: 3, subject: 'x86/vmx: add cpu_callback', messageId: null },
    skipped: 1,
  };
  r.builds = [];
  Object.assign(r, decideVerdict(r.apply, r.builds));
  assert.equal(r.summary, 'fail: the series does not apply at patch 2/3');
  assert.match(reply(r), /^FAIL: patch 2\/3 does not apply to the base\.$/m);
  assert.match(summaryText(r), /^apply: failed at patch 2\/3 "x86\/vmx: add cpu_callback", 1 later patch/m);
});

test('a base that does not build: the same failure in the series is no PASS, a new one still fails', () => {
  const empty = { duplicates: [], fileCollisions: [], errors: [], problems: [] };
  const BASE_LOG = [
    "xen/include/xen/lib.h:172:21: error: redundant redeclaration of 'staging_1' [-Werror=redundant-decls]",
    'make[2]: *** [build.mk:45: asm-offsets.s] Error 1',
  ].join('\n');
  const broken = { ...empty, errors: parseBuildLog(BASE_LOG) };
  const same = resultWith(
    reportBuilds([toolchainBuild('baseline', 'fail', broken)], [toolchainBuild('series', 'fail', broken)]),
  );
  assert.equal(same.verdict, 'error');
  assert.equal(
    same.summary,
    'error: listci could not judge (gcc-12): the base does not build under gcc-12, and the series fails the same way',
  );
  assert.equal(same.builds.find((b) => b.phase === 'series')!.verdict, 'error');

  const worse = {
    ...empty,
    errors: parseBuildLog(`${BASE_LOG}\nxen/common/new.c:3:1: error: unknown type name 'bogus'`),
  };
  const more = resultWith(
    reportBuilds([toolchainBuild('baseline', 'fail', broken)], [toolchainBuild('series', 'fail', worse)]),
  );
  assert.equal(more.verdict, 'fail', 'an error of its own still fails the series');

  const fixed = resultWith(
    reportBuilds([toolchainBuild('baseline', 'fail', broken)], [toolchainBuild('series', 'pass', empty)]),
  );
  assert.equal(fixed.verdict, 'pass', 'a series that makes the base build again passes');
});
