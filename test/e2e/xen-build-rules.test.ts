// A series that changes Xen's build rules is judged as a clean build judges it. The patch makes
// cmd_objcopy_fix_sym in xen/Rules.mk a plain `mv`, so C objects keep their bare STT_FILE
// names: Xen's own clean build then stops at `tools/symbols --error-dup` with Duplicate symbol
// lines. make does not track that rule, so an incremental build on the base recompiles nothing
// of it and passes. listci must build it from scratch and name exactly Xen's duplicates.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerRunner } from '../../src/build/engine.ts';
import { XEN_RECIPE } from '../../src/build/recipe.ts';
import { runRecipe } from '../../src/build/recipe.ts';
import { configSchema } from '../../src/config/schema.ts';
import { skipUnlessCi } from '../helpers/prerequisite.ts';
import {
  SOCKET,
  XEN_REPO,
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
let clone: string;
let mbox: string;

before(() => {
  if (missing) return;
  scratch = mkdtempSync(join(tmpdir(), 'listci-rules-'));
  chmodSync(scratch, 0o755);
  work = workDirFor('listci-e2e-work-');
  ({ clone, mbox } = contributorSeries(
    XEN_REPO,
    scratch,
    'xen/build: keep the compiler-given file symbols',
    (dir) => {
      const rules = join(dir, 'xen/Rules.mk');
      const text = readFileSync(rules, 'utf8');
      const fixSym = /(cmd_objcopy_fix_sym = \\\n\s*)\$\(OBJCOPY\) --redefine-sym .*\n/;
      assert.match(text, fixSym, 'Xen 4.17 Rules.mk has the ENFORCE_UNIQUE_SYMBOLS objcopy rule');
      writeFileSync(rules, text.replace(fixSym, '$1mv -f $(dot-target).tmp $@\n'));
    },
  ));
});

after(() => {
  if (missing) return;
  rmSync(scratch, { recursive: true, force: true });
  if (!work.keep) rmSync(work.dir, { recursive: true, force: true });
});

/** Xen's own verdict: the patched tree built from an empty dir, Duplicate symbol lines read off its log. */
async function xenCleanBuild(
  t: (typeof XEN_TOOLCHAINS)[number],
): Promise<{ exit: number | null; dups: string[] }> {
  const toolchain = configSchema.parse({ build: { toolchains: [t] } }).build.toolchains[0]!;
  const build = join(scratch, `clean-${t.name}`);
  mkdirSync(build);
  const logPath = join(scratch, `clean-${t.name}.log`);
  writeFileSync(logPath, '');
  const r = await runRecipe({
    runner: new ContainerRunner({ socketPath: SOCKET }),
    recipe: XEN_RECIPE,
    toolchain,
    image: t.image,
    sourceDir: clone,
    buildDir: build,
    configured: false,
    makeJobs: 2,
    limits: { memoryMb: 4096, pids: 4096, cpus: 2, timeoutMs: 20 * 60_000 },
    logPath,
    logCapBytes: 8 << 20,
  });
  rmSync(build, { recursive: true, force: true });
  const log = readFileSync(logPath, 'utf8');
  return { exit: r.outcome.exitCode, dups: [...new Set([...log.matchAll(DUP)].map((m) => m[1]!))].sort() };
}

test(
  'a series that changes a build rule gets the verdict and duplicates of a clean build, under gcc and clang',
  { skip: skipUnlessCi(missing), timeout: 40 * 60_000 },
  async () => {
    const config = checkConfig(scratch, work.dir, XEN_REPO, XEN_TOOLCHAINS);
    const { code, result } = await listciCheck(config, ['--mbox', mbox]);
    assert.equal(code, 1, 'exit 1: the series has findings');
    assert.equal(result.verdict, 'fail', result.summary);

    for (const b of result.builds) {
      // listci's own config fragment replaces defconfig's lines: Kconfig has nothing to override.
      if (b.logPath) assert.doesNotMatch(readFileSync(b.logPath, 'utf8'), /override: reassigning/, b.logPath);
    }
    for (const t of XEN_TOOLCHAINS) {
      const xen = await xenCleanBuild(t);
      assert.notEqual(xen.exit, 0, `${t.name}: Xen's own clean build rejects the series`);
      assert.ok(xen.dups.length > 0, `${t.name}: ... with Duplicate symbol lines`);
      const b = result.builds.find((x) => x.phase === 'series' && x.toolchain === t.name)!;
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
