// `listci check` end to end, through the real bin/listci.js, on the demo hypervisor tree with
// the real gcc and clang (build.runner: local), real git and a real SQLite file: what a Xen
// contributor sees before posting and what a maintainer's script reads from --json.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { BuildReport, CheckResult } from '../../src/contract.ts';
import { runCli, tempDir, type CliResult } from '../helpers/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const INBOX = join(ROOT, 'demo/inbox');
const FIXTURES = join(ROOT, 'test/fixtures/pipeline');
const DEMO_BASE = 'af01803ea81192f18a08e49d8979d9e589da2f61'; // demo/make-repo.sh's fixed commit
const GOOD = inbox('01-');
const BAD = ['02-', '03-', '04-'].map(inbox); // cover letter + 2 patches: util.c#parse_one twice
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Contributor',
  GIT_AUTHOR_EMAIL: 'test@example.org',
  GIT_COMMITTER_NAME: 'Test Contributor',
  GIT_COMMITTER_EMAIL: 'test@example.org',
};

function inbox(prefix: string): string {
  const name = readdirSync(INBOX).find((n) => n.startsWith(prefix));
  assert.ok(name, `demo/inbox has no ${prefix}*.eml`);
  return join(INBOX, name);
}

/** The mails as one mbox, as a mail client exports a thread. */
function writeMbox(path: string, mails: string[]): string {
  writeFileSync(
    path,
    mails.map((m) => `From x Fri Nov 27 09:00:00 2026\n${readFileSync(m, 'utf8')}\n`).join(''),
  );
  return path;
}

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, ...IDENTITY } });
}

/** A directory with the demo tree as a repository (./tree) and a listci.yaml building it locally. */
function demoDir(configExtra = ''): string {
  const dir = tempDir('listci-check-');
  execFileSync(join(ROOT, 'demo/make-repo.sh'), [join(dir, 'tree')]);
  writeFileSync(
    join(dir, 'listci.yaml'),
    `repo: { url: ./tree, defaultBranch: main }
database: ./var/listci.db
build: { runner: local, toolchains: [ { name: gcc, cc: gcc }, { name: clang, cc: clang } ] }
${configExtra}`,
  );
  return dir;
}

function json(r: CliResult): CheckResult {
  try {
    return JSON.parse(r.stdout) as CheckResult;
  } catch {
    assert.fail(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const build = (r: CheckResult, toolchain: string, phase: 'baseline' | 'series'): BuildReport => {
  const b = r.builds.find((x) => x.toolchain === toolchain && x.phase === phase);
  assert.ok(b, `no ${phase} build for ${toolchain} in ${JSON.stringify(r.builds.map((x) => x.toolchain))}`);
  return b;
};

const runsIn = (dir: string) => {
  const db = new Database(join(dir, 'var/listci.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, origin, verdict, result_json FROM runs ORDER BY id').all() as {
      id: number;
      origin: string;
      verdict: string;
      result_json: string;
    }[];
  } finally {
    db.close();
  }
};

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('listci check --mbox on the demo tree', () => {
  let dir: string;
  let first: CliResult; // the bad series, the first check in this work dir

  before(() => {
    dir = demoDir();
    dirs.push(dir);
    first = runCli(['check', '--mbox', writeMbox(join(dir, 'bad.mbox'), BAD), '--json'], { cwd: dir });
  });

  test('the bad series fails with util.c#parse_one, defined in common/ and drivers/, under gcc and clang', () => {
    assert.equal(first.code, 1, first.stderr);
    const r = json(first);
    assert.equal(r.verdict, 'fail');
    assert.equal(r.series.title, 'serial port parsing');
    assert.equal(r.series.version, 1);
    assert.equal(r.series.author, 'Bob Newcomer <bob@example.org>');
    assert.equal(r.series.messageId, 'cover.1795791283.git.bob@example.org');
    assert.deepEqual(
      r.series.patches.map((p) => [p.number, p.subject]),
      [
        [1, '[PATCH 1/2] xen/drivers: add a port parser'],
        [2, '[PATCH 2/2] xen: parse the serial port at start of day'],
      ],
    );
    assert.equal(r.base?.commit, DEMO_BASE);
    assert.match(r.base.reason, /base-commit/);
    assert.ok('ref' in r.base && r.base.steps.length > 0, 'base names its ref and the steps tried');
    assert.deepEqual(
      { ok: r.apply?.ok, failedPatch: r.apply?.failedPatch, error: r.apply?.error },
      { ok: true, failedPatch: null, error: null },
    );
    assert.equal(r.builds.length, 4, 'baseline and series, for gcc and clang');
    for (const toolchain of ['gcc', 'clang']) {
      for (const phase of ['baseline', 'series'] as const) {
        const b = build(r, toolchain, phase);
        assert.equal(typeof b.durationMs, 'number');
        assert.ok(Array.isArray(b.errors) && Array.isArray(b.duplicates.preexisting));
        assert.equal(b.botError, null, `${toolchain} ${phase}`);
      }
      assert.equal(build(r, toolchain, 'baseline').status, 'pass');
      assert.deepEqual(build(r, toolchain, 'baseline').duplicates.new, []);
      const s = build(r, toolchain, 'series');
      assert.equal(s.status, 'pass', 'the demo links with the duplicate; Xen would stop at --error-dup');
      assert.deepEqual(
        s.duplicates.new.map((d) => ({ key: d.key, objects: [...d.objects].sort(), status: d.status })),
        [{ key: 'util.c#parse_one', objects: ['common/util.o', 'drivers/util.o'], status: 'new' }],
        toolchain,
      );
      assert.equal(s.duplicates.new[0]!.addresses.length, 2);
      assert.deepEqual(s.duplicates.preexisting, []);
    }
    assert.match(r.summary, /^fail: .*gcc.*clang/);
  });

  test('the result is recorded: a runs row with the verdict and the very JSON printed', () => {
    const runs = runsIn(dir);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.verdict, 'fail');
    assert.equal(runs[0]!.origin, 'check');
    assert.deepEqual(JSON.parse(runs[0]!.result_json), json(first));
  });

  test('the good series passes, and the summary says PASS and which base and why', () => {
    const r = runCli(['check', '--mbox', GOOD], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^PASS: xen\/console: say which console is in use/);
    assert.ok(
      lines.some((l) => l.startsWith(`base: ${DEMO_BASE.slice(0, 12)}`) && /base-commit trailer/.test(l)),
      r.stdout,
    );
  });

  describe('a second series on the same base, --toolchains gcc --no-record', () => {
    let r: CliResult;
    let runsBefore: number;
    before(() => {
      runsBefore = runsIn(dir).length;
      r = runCli(['check', '--mbox', GOOD, '--json', '--toolchains', 'gcc', '--no-record'], { cwd: dir });
    });

    test('builds only with gcc', () => {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        json(r).builds.map((b) => `${b.phase}:${b.toolchain}`),
        ['baseline:gcc', 'series:gcc'],
      );
    });

    test('takes the baseline from the cache', () => {
      assert.equal(build(json(first), 'gcc', 'baseline').cached, false, 'the first check built it');
      assert.equal(build(json(r), 'gcc', 'baseline').cached, true);
      assert.equal(build(json(r), 'gcc', 'series').cached, false);
    });

    test('writes nothing to the database', () => {
      assert.equal(runsIn(dir).length, runsBefore);
    });
  });

  test('a series whose 2/2 does not apply fails, naming the patch and the file', () => {
    const r = runCli(['check', '--mbox', join(FIXTURES, 'series-2-of-2-does-not-apply-to-console.mbox')], {
      cwd: dir,
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAIL: /);
    assert.match(r.stdout, /does not apply at patch 2\/2/);
    assert.match(r.stdout, /failed at patch 2\/2 "\[PATCH 2\/2\] xen\/console: shout the banner"/);
    assert.match(r.stdout, /xen\/common\/console\.c/);
    const recorded = JSON.parse(runsIn(dir).at(-1)!.result_json) as CheckResult;
    assert.equal(recorded.verdict, 'fail');
    assert.deepEqual(recorded.builds, [], 'nothing is built from a series that does not apply');
  });

  test('a patch with a syntax error fails with a new compiler error at xen/common/util.c:8', () => {
    const r = runCli(['check', '--mbox', join(FIXTURES, 'patch-with-syntax-error-in-util.eml'), '--json'], {
      cwd: dir,
    });
    assert.equal(r.code, 1, r.stderr);
    const result = json(r);
    assert.equal(result.verdict, 'fail');
    for (const toolchain of ['gcc', 'clang']) {
      const s = build(result, toolchain, 'series');
      assert.equal(s.status, 'fail');
      const compiler = s.errors.filter((e) => e.kind === 'compiler-error');
      assert.deepEqual(
        compiler.map((e) => ({ file: e.file, line: e.line, status: e.status })),
        [{ file: 'xen/common/util.c', line: 8, status: 'new' }],
        `${toolchain}: one finding, in the tree's own path: ${JSON.stringify(compiler)}`,
      );
      assert.match(compiler[0]!.message, /expected ';'/);
    }
  });

  test('exit 2 with one line on stderr: a bad config', () => {
    writeFileSync(join(dir, 'typo.yaml'), 'build: { runer: local }\n');
    const r = runCli(['check', '-c', 'typo.yaml', '--mbox', GOOD], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^listci: config: .*typo\.yaml: build\.runer: unknown key\n$/);
  });

  test('exit 2 with one line on stderr: an unknown --toolchains name', () => {
    const r = runCli(['check', '--mbox', GOOD, '--toolchains', 'gcc,icc'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'listci: check: unknown toolchain icc (configured: gcc, clang)\n');
  });

  test('exit 2 with one line on stderr: neither or both of --mbox and --range', () => {
    for (const args of [[], ['--mbox', GOOD, '--range', 'main..HEAD']]) {
      const r = runCli(['check', ...args], { cwd: dir });
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(
        r.stderr,
        'listci: check: give exactly one of --mbox FILE, --range A..B or --message-id ID\n',
      );
    }
  });

  test('exit 2 with one line on stderr: an mbox with no patch (the cover letter alone)', () => {
    const r = runCli(['check', '--mbox', BAD[0]!], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^listci: check: .*02-0000-cover-letter\.eml: .*no patches.*\n$/);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  });

  test("a container engine that is not there is listci's error (exit 2, verdict error), never the series'", () => {
    writeFileSync(
      join(dir, 'podman.yaml'),
      `repo: { url: ./tree, defaultBranch: main }
workDir: ./var-podman
database: ./var-podman/listci.db
build:
  runner: podman
  socket: ${join(dir, 'no-such-podman.sock')}
  toolchains: [ { name: gcc-12, image: listci-no-such-image:12, cc: gcc } ]
`,
    );
    const r = runCli(
      ['check', '-c', 'podman.yaml', '--mbox', writeMbox(join(dir, 'bad.mbox'), BAD), '--json'],
      {
        cwd: dir,
      },
    );
    assert.equal(r.code, 2, r.stderr);
    const result = json(r);
    assert.equal(result.verdict, 'error');
    assert.ok(result.builds.length > 0);
    for (const b of result.builds) {
      assert.equal(b.status, 'error', `${b.phase} ${b.toolchain}`);
      assert.match(b.botError ?? '', /no-such-podman\.sock/);
      assert.deepEqual(b.duplicates.new, []);
    }
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    assert.match(last, /^listci: check: error: listci could not judge \(gcc-12\): .*no-such-podman\.sock/);
  });
});

test('a duplicate the base already has is pre-existing, and a series touching something else passes', () => {
  const dir = demoDir();
  dirs.push(dir);
  // The base already carries drivers/util.c (patch 1/2 of the bad series, applied upstream).
  git(join(dir, 'tree'), ['am', '-q', BAD[1]!]);
  const r = runCli(['check', '--mbox', join(FIXTURES, 'console-patch-without-base-commit.eml'), '--json'], {
    cwd: dir,
  });
  assert.equal(r.code, 0, r.stderr);
  const result = json(r);
  assert.equal(result.verdict, 'pass');
  assert.equal(result.base?.commit, git(join(dir, 'tree'), ['rev-parse', 'main']).trim());
  assert.match(result.base.reason, /default branch main/);
  for (const toolchain of ['gcc', 'clang']) {
    const s = build(result, toolchain, 'series');
    assert.deepEqual(s.duplicates.new, [], toolchain);
    assert.deepEqual(
      s.duplicates.preexisting.map((d) => [d.key, d.status]),
      [['util.c#parse_one', 'preexisting']],
      toolchain,
    );
  }
});

test("--range A..B --repo DIR checks a contributor's local commits, without mail or repo.url", () => {
  const dir = tempDir('listci-check-range-');
  dirs.push(dir);
  execFileSync(join(ROOT, 'demo/make-repo.sh'), [join(dir, 'upstream')]);
  git(dir, ['clone', '-q', 'upstream', 'xen']);
  const clone = join(dir, 'xen');
  git(clone, ['am', '-q', BAD[1]!, BAD[2]!]);
  writeFileSync(
    join(dir, 'listci.yaml'),
    'build: { runner: local, toolchains: [ { name: gcc, cc: gcc }, { name: clang, cc: clang } ] }\n',
  );
  const r = runCli(['check', '--range', 'origin/main..HEAD', '--repo', 'xen', '--json', '--no-record'], {
    cwd: dir,
  });
  assert.equal(r.code, 1, r.stderr);
  const result = json(r);
  assert.equal(result.verdict, 'fail');
  assert.equal(result.base?.commit, DEMO_BASE, 'the merge base of origin/main and HEAD');
  assert.deepEqual(
    result.series.patches.map((p) => [p.number, p.subject, p.messageId]),
    [
      [1, 'xen/drivers: add a port parser', null],
      [2, 'xen: parse the serial port at start of day', null],
    ],
  );
  for (const toolchain of ['gcc', 'clang'])
    assert.deepEqual(
      build(result, toolchain, 'series').duplicates.new.map((d) => d.key),
      ['util.c#parse_one'],
    );
});
