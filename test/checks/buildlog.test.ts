// What a contributor reads in the reply when the build breaks: the compiler's or linker's
// own message, where it points, and the few lines around it — from real gcc, clang and ld
// output, and from a Xen build log that stopped on its duplicate-symbol check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_LINE } from '../../src/checks/buildlog.ts';
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

// A series controls what its build prints. Before lines were cut and the patterns made
// linear, one 1 MB line like the ones below took from 50 s to over 12 minutes.
const TEN_MB = 10 * 1024 * 1024;
const timed = <T>(what: string, f: () => T): T => {
  const start = performance.now();
  const out = f();
  const ms = performance.now() - start;
  console.log(`parseBuildLog: ${what}: ${ms.toFixed(0)} ms`);
  assert.ok(ms < 1000, `${what} took ${ms.toFixed(0)} ms`);
  return out;
};

test('a real gcc error whose line is 10 MB long is found in well under a second, its message and excerpt cut', (t) => {
  const dir = tempDir('long-line');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'long-error.c'),
    `int ok;\n#error expected a configuration ${'x, '.repeat(TEN_MB / 3)}\n`,
  );
  const r = spawnSync('gcc', ['-fdiagnostics-color=always', '-c', 'long-error.c', '-o', '/dev/null'], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.notEqual(r.status, 0);
  // gcc prints the error line and quotes the source line: two lines of 10 MB each.
  assert.ok(r.stderr.length > 2 * TEN_MB, `gcc printed ${r.stderr.length} characters`);
  const found = timed('gcc #error with a 10 MB line', () => parseBuildLog(r.stderr));
  assert.equal(found.length, 1, JSON.stringify(found.map((f) => [f.kind, f.message.slice(0, 80)])));
  const [error] = found;
  assert.equal(error!.kind, 'compiler-error');
  assert.equal(error!.file, 'long-error.c');
  assert.equal(error!.line, 2);
  assert.match(error!.message, /^#error expected a configuration x, x, /);
  assert.match(error!.message, / \[\.\.\. cut\]$/);
  assert.ok(error!.message.length <= MAX_LINE, `message of ${error!.message.length} characters`);
  assert.ok(error!.excerpt.length <= 3 * (MAX_LINE + 20), `excerpt of ${error!.excerpt.length} characters`);
});

test('10 MB lines shaped to make backtracking patterns quadratic cost well under a second; the error after them is found', () => {
  const fill = (unit: string, end = '') => unit.repeat(Math.ceil(TEN_MB / unit.length)) + end;
  // U+2028 ends a line for `.` and `$` but not for split('\n'): a `.*$` after it fails and retries.
  const shapes: Record<string, string> = {
    'linker phrases, then U+2028': fill('cannot find x', '\u2028'),
    'undefined references, then U+2028': fill('undefined reference to ', '\u2028'),
    'Kconfig without a colon': fill('Kconfig'),
    'a Kconfig select warning that never says unmet': 'warning: ' + fill(' selects '),
    'colons and digits': fill('a:1:'),
    blanks: fill(' ') + 'x',
    'make stars': 'make: *** ' + fill('*** ', '\u2028'),
    'ANSI escapes never finished': fill('\x1b[0;'),
    'gcc notes': fill('x.c:1:1: note: '),
  };
  const after = "arch/x86/hvm.c:12:5: error: 'v' undeclared (first use in this function)";
  for (const [what, line] of Object.entries(shapes)) {
    const found = timed(what, () => parseBuildLog(`${line}\n${after}\n`));
    const error = found.find((f) => f.kind === 'compiler-error' && f.file === 'arch/x86/hvm.c');
    assert.ok(error, `${what}: ${JSON.stringify(found.map((f) => [f.kind, f.message.slice(0, 80)]))}`);
    assert.equal(error.line, 12);
    assert.equal(error.message, "'v' undeclared (first use in this function)");
  }
});
