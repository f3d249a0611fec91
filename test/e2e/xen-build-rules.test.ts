// A series that changes Xen's build rules is judged as a clean build judges it, on today's Xen
// (scripts/get-xen.sh master). The patch makes cmd_objcopy_fix_sym in xen/Rules.mk a plain
// `mv`, so C objects keep their bare STT_FILE names: Xen's own clean build then stops at
// `tools/symbols --error-dup` with Duplicate symbol lines. make does not track that rule, so an
// incremental build on the base recompiles nothing of it and passes. listci must build it from
// scratch and name exactly Xen's duplicates.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { skipUnlessCi } from '../helpers/prerequisite.ts';
import {
  XEN_MASTER_REPO,
  XEN_TOOLCHAINS,
  checkConfig,
  contributorSeries,
  listciCheck,
  missingPrerequisites,
  workDirFor,
} from './support.ts';

const missing = missingPrerequisites(XEN_TOOLCHAINS.map((t) => t.image));
const DUP = /^Duplicate symbol '([^']+)'/gm;

let scratch: string;
let work: { dir: string; keep: boolean };
let mbox: string;

before(() => {
  if (missing) return;
  scratch = mkdtempSync(join(tmpdir(), 'listci-rules-'));
  chmodSync(scratch, 0o755);
  work = workDirFor('listci-e2e-work-');
  ({ mbox } = contributorSeries(
    XEN_MASTER_REPO,
    scratch,
    'xen/build: keep the compiler-given file symbols',
    (dir) => {
      const rules = join(dir, 'xen/Rules.mk');
      const text = readFileSync(rules, 'utf8');
      const fixSym = /(cmd_objcopy_fix_sym = \\\n\s*)\$\(OBJCOPY\) --redefine-sym .*\n/;
      assert.match(text, fixSym, "today's Rules.mk has the ENFORCE_UNIQUE_SYMBOLS objcopy rule");
      writeFileSync(rules, text.replace(fixSym, '$1mv -f $(dot-target).tmp $@\n'));
    },
  ));
});

after(() => {
  if (missing) return;
  rmSync(scratch, { recursive: true, force: true });
  if (!work.keep) rmSync(work.dir, { recursive: true, force: true });
});

/**
 * Xen's own verdict on the build: the Duplicate symbol lines its `tools/symbols --error-dup`
 * printed, and proof that the build was a clean one (the config steps ran in an empty build
 * dir, and a file the series did not touch was compiled). listci's findings come from reading
 * the image itself, so the two are independent judgements of one clean build.
 */
function xenVerdict(logPath: string): { dups: string[]; clean: boolean } {
  const log = readFileSync(logPath, 'utf8');
  return {
    dups: [...new Set([...log.matchAll(DUP)].map((m) => m[1]!))].sort(),
    clean: /^== listci: defconfig: /m.test(log) && /^\s+CC\s+common\/kernel\.o$/m.test(log),
  };
}

test(
  'a series that changes a build rule gets the verdict and duplicates of a clean build, under gcc and clang',
  { skip: skipUnlessCi(missing), timeout: 30 * 60_000 },
  async () => {
    const config = checkConfig(scratch, work.dir, XEN_MASTER_REPO, XEN_TOOLCHAINS);
    const { code, result } = await listciCheck(config, ['--mbox', mbox]);
    assert.equal(code, 1, 'exit 1: the series has findings');
    assert.equal(result.verdict, 'fail', result.summary);

    for (const b of result.builds) {
      // listci's own config fragment replaces defconfig's lines: Kconfig has nothing to override.
      if (b.logPath) assert.doesNotMatch(readFileSync(b.logPath, 'utf8'), /override: reassigning/, b.logPath);
    }
    for (const t of XEN_TOOLCHAINS) {
      const b = result.builds.find((x) => x.phase === 'series' && x.toolchain === t.name)!;
      const xen = xenVerdict(b.logPath!);
      assert.ok(xen.clean, `${t.name}: built from an empty build dir, everything compiled`);
      assert.ok(xen.dups.length > 0, `${t.name}: Xen's own duplicate check rejects the series`);
      assert.equal(b.verdict, 'fail', `${t.name}: listci fails it too`);
      assert.equal(b.mode?.rule, 'build-rules-changed');
      assert.equal(b.mode?.reason, 'built from scratch: the series changes the build rules (xen/Rules.mk)');
      assert.deepEqual(
        b.duplicates.new.map((d) => d.key).sort(),
        xen.dups,
        `${t.name}: listci's new duplicates are exactly Xen's own`,
      );
      for (const d of b.duplicates.new) assert.ok(d.objects.length >= 2, `${d.key} traced to its objects`);
    }
  },
);
