// What a contributor reads in the reply when the build breaks: the compiler's or linker's
// own message, where it points, and the few lines around it — from real gcc, clang and ld
// output, and from a Xen build log that stopped on its duplicate-symbol check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareWithBaseline, parseBuildLog, type Findings } from '../../src/checks/index.ts';
import { FIXTURES, tempDir } from './fixture-tree.ts';

/** Run a compiler the way a build does and keep what it printed, colours and all. */
function stderrOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: FIXTURES, encoding: 'utf8' });
  assert.notEqual(r.status, 0, `${cmd} ${args.join(' ')} was expected to fail`);
  return r.stderr;
}

const colour = { gcc: '-fdiagnostics-color=always', clang: '-fcolor-diagnostics' } as const;

for (const cc of ['gcc', 'clang'] as const) {
  test(`${cc}: an undeclared identifier is a compiler error at file:line with the source line quoted, colours stripped`, () => {
    const log = stderrOf(cc, [
      '-Wall',
      colour[cc],
      '-c',
      'broken-undeclared-and-unused.c',
      '-o',
      '/dev/null',
    ]);
    assert.match(log, /\x1b\[/, 'the compiler did colour its output');
    const found = parseBuildLog(log);
    const error = found.find((f) => f.kind === 'compiler-error');
    assert.ok(error, JSON.stringify(found));
    assert.equal(error.file, 'broken-undeclared-and-unused.c');
    assert.equal(error.line, 6);
    assert.match(error.message, /undeclared/);
    assert.match(error.excerpt, /return x \+ undeclared_counter;/);
    assert.doesNotMatch(error.excerpt, /\x1b/);
    assert.ok(error.excerpt.split('\n').length <= 8, error.excerpt);
    if (cc === 'gcc') {
      assert.match(error.excerpt, /In function .broken_entry./, 'gcc names the function above the error');
      const warning = found.find((f) => f.kind === 'compiler-warning' && /unused variable/.test(f.message));
      assert.equal(warning?.line, 5);
    }
  });

  test(`${cc}: an undefined reference and a multiple definition are linker findings`, (t) => {
    const out = tempDir(`link-${cc}`);
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const log = stderrOf(cc, [
      '-nostdlib',
      '-o',
      join(out, 'image'),
      'calls-missing-function.c',
      'defines-shared-global-too.c',
    ]);
    const linker = parseBuildLog(log).filter((f) => f.kind === 'linker');
    const undefinedRef = linker.find((f) => /undefined reference to .missing_helper/.test(f.message));
    assert.equal(undefinedRef?.file, 'calls-missing-function.c');
    assert.match(
      undefinedRef?.excerpt ?? '',
      /in function ._start'/,
      'the excerpt says which function made the call',
    );
    const multiple = linker.find((f) => /multiple definition of .shared_global/.test(f.message));
    assert.ok(multiple, JSON.stringify(linker));
  });
}

test("a Xen build log: Kconfig complaints, a warning and Xen's duplicate-symbol lines; make's own error adds nothing", () => {
  const log = readFileSync(join(FIXTURES, 'xen-build-duplicate-symbol.log'), 'utf8');
  const found = parseBuildLog(log);
  assert.deepEqual(
    found.map((f) => [f.kind, f.file, f.line]),
    [
      ['kconfig', '.config', 112],
      ['kconfig', null, null],
      ['compiler-warning', 'arch/x86/setup.c', 655],
      ['duplicate-check', null, null],
      ['duplicate-check', null, null],
    ],
  );
  assert.equal(
    found[3]!.message,
    "Duplicate symbol 'hvm.c#cpu_callback' (ffff82d040221afe != ffff82d04022149e)",
  );
  assert.match(found[2]!.excerpt, /In function 'init_done'[\s\S]*655 \| {5}int start;/);
});

test('a make failure nothing else explains is a finding that names the innermost target', () => {
  const log = [
    'make[2]: *** [arch/x86/Makefile:144: /build/xen/xen-syms] Error 1',
    'make[1]: *** [Makefile:590: xen] Error 2',
    'make: *** Waiting for unfinished jobs....',
  ].join('\n');
  assert.deepEqual(
    parseBuildLog(log).map((f) => [f.kind, f.message]),
    [['make', '[arch/x86/Makefile:144: /build/xen/xen-syms] Error 1']],
  );
});

test('the same warning moved by a patch and built in another directory is preexisting; a different one is new', () => {
  const at = (dir: string, line: number, message: string) => ({
    kind: 'compiler-warning' as const,
    file: `${dir}/arch/x86/setup.c`,
    line,
    message,
    excerpt: '',
  });
  const findings = (errors: Findings['errors']): Findings => ({ duplicates: [], fileCollisions: [], errors });
  const baseline = findings([at('/build/base-1', 655, "unused variable 'start' [-Wunused-variable]")]);
  const series = findings([
    at('/build/series-9', 661, "unused variable 'start' [-Wunused-variable]"),
    at('/build/series-9', 700, "unused variable 'end' [-Wunused-variable]"),
  ]);
  const compared = compareWithBaseline(series, baseline, {
    series: ['/build/series-9'],
    baseline: ['/build/base-1'],
  });
  assert.deepEqual(
    compared.errors.map((e) => e.status),
    ['preexisting', 'new'],
  );
});
