import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { readBuildFile, UnsafeFileError } from '../safe-file.ts';
import { configSchema, type RawConfig, type ToolchainConfig } from '../config/schema.ts';
import { botFailure, type Mount, type RunLimits, type RunOutcome, type Runner } from './runner.ts';

// The Xen recipe, as separate argv steps (no shell, nothing interpolated from mail):
//   make -C SRC/xen O=BUILD defconfig
//   put the fragment into BUILD/.config            (in the container: see FRAGMENT_SCRIPT)
//   make -C SRC/xen O=BUILD olddefconfig            (setting only one option leaves the other stale)
//   verify every CONFIG_X=v of the fragment is in BUILD/.config
//   make -C SRC/xen O=BUILD -jN [targets]
// The config steps are skipped when the caller says BUILD already holds this configuration
// (a copy of a baseline snapshot made by the same recipe and toolchain): that is what keeps
// rebuilds incremental. listci keeps no stamp in BUILD: a series can write anything there.

export type RecipeConfig = RawConfig['build']['recipe'];

/** Xen's recipe as the embedded defaults give it: live patching and unique symbols enforced. */
export const XEN_RECIPE: RecipeConfig = configSchema.parse({}).build.recipe;

export const SRC_IN_CONTAINER = '/src';
export const BUILD_IN_CONTAINER = '/build';
/** A .config is a few hundred KB at most. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Replaces each fragment option's line in .config and appends the fragment. It runs in the
 * build's container, never on the host: after defconfig the build dir holds whatever the
 * tree's Makefiles put there (a .config symlinked to a host file, say), so the host never
 * writes into it. Lines come in as positional arguments, never as shell text; their option
 * names were checked against CONFIG_[A-Za-z0-9_]+ first. Dropping the old lines also keeps
 * Kconfig's "override: reassigning to symbol" warnings, listci's own noise, out of the log.
 */
const FRAGMENT_SCRIPT = String.raw`set -e
for want in "$@"; do
  case "$want" in
    "# CONFIG_"*" is not set") name=${'$'}{want#"# "}; name=${'$'}{name%" is not set"} ;;
    *) name=${'$'}{want%%=*} ;;
  esac
  grep -v -e "^$name=" -e "^# $name is not set\$" .config > .config.listci || true
  mv -f .config.listci .config
done
printf '%s\n' '# listci config fragment' "$@" >> .config
`;

export interface RecipeInput {
  runner: Runner;
  recipe: RecipeConfig;
  toolchain: ToolchainConfig;
  image: string;
  /** Host path of the checked-out tree (mounted read-only). */
  sourceDir: string;
  /** Host path of the writable out-of-tree build dir. */
  buildDir: string;
  /** The build dir already holds this recipe's configuration: skip the config steps. */
  configured: boolean;
  makeJobs: number;
  /** timeoutMs is for the whole recipe, not per step. */
  limits: RunLimits;
  logPath: string;
  logCapBytes: number;
  signal?: AbortSignal | undefined;
  onStep?: ((step: StepName) => void) | undefined;
  /** The toolchain's compiler cache; null or absent: none. */
  compilerCache?: CompilerCache | null | undefined;
}

/** A ccache dir on the host. Only a trusted build (a mirror commit's baseline) may write it. */
export interface CompilerCache {
  hostDir: string;
  writable: boolean;
  maxMb: number;
  /** The image's ID: ccache's compiler identity, so a rebuilt image takes nothing its predecessor cached. */
  imageId: string | null;
}

export const CCACHE_IN_CONTAINER = '/ccache';
// Debian's ccache puts compiler-named links in /usr/lib/ccache: first on PATH, `gcc` is ccache.
const CCACHE_PATH = '/usr/lib/ccache:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment ccache needs. Read-only mode for an untrusted build is a courtesy (no failed
 * writes in the log); the read-only mount is what keeps the series out of the cache. Temporary
 * files go to the container's tmpfs, never into the cache dir.
 *
 * Depend mode: a staging move that touches a common header makes every file a miss, and a miss
 * in ccache's default mode runs the preprocessor once more. Depend mode hashes the includes the
 * compiler's own -MMD file lists instead. With -MMD that list leaves out system headers, which
 * Xen does not use (-nostdinc); a tree that did would lose their changes from the hash, though
 * the compiler's size and mtime (a new compiler package) still change it.
 */
function cacheEnv(cache: CompilerCache): Record<string, string> {
  return {
    PATH: CCACHE_PATH,
    CCACHE_DIR: CCACHE_IN_CONTAINER,
    CCACHE_TEMPDIR: '/tmp/ccache',
    CCACHE_MAXSIZE: `${cache.maxMb}M`,
    CCACHE_DEPEND: '1',
    ...(cache.imageId ? { CCACHE_COMPILERCHECK: `string:${cache.imageId}` } : {}),
    ...(cache.writable ? {} : { CCACHE_READONLY: '1' }),
  };
}

export type StepName = 'defconfig' | 'fragment' | 'olddefconfig' | 'verify-config' | 'make';

export interface RecipeOutcome {
  /** Where it stopped: the failing step, or 'make' when everything ran. */
  step: StepName;
  outcome: RunOutcome;
  /** The fragment did not take effect: a config problem of the bot's, not the series'. */
  configError: string | null;
  /** true when the config steps were skipped because the build dir already had this config. */
  reusedConfig: boolean;
  durationMs: number;
}

export function mountsFor(sourceDir: string, buildDir: string, cache: CompilerCache | null = null): Mount[] {
  return [
    { hostPath: sourceDir, containerPath: SRC_IN_CONTAINER, readOnly: true },
    { hostPath: buildDir, containerPath: BUILD_IN_CONTAINER, readOnly: false },
    ...(cache
      ? [{ hostPath: cache.hostDir, containerPath: CCACHE_IN_CONTAINER, readOnly: !cache.writable }]
      : []),
  ];
}

export function fragmentOf(recipe: RecipeConfig, toolchain: ToolchainConfig): string[] {
  return [...recipe.configFragment, ...toolchain.configFragment];
}

/**
 * Identifies "the same build configuration": the snapshot key. `imageId` is the image's content,
 * where `image` is only its name: an image rebuilt under the same name (a new compiler
 * package) must not start from objects, or reuse a baseline, that the old one compiled.
 */
export function configHash(
  recipe: RecipeConfig,
  toolchain: ToolchainConfig,
  image: string,
  where: { locality?: string | null; imageId?: string | null } = {},
): string {
  const { locality = null, imageId = null } = where;
  const key = JSON.stringify({
    recipe,
    toolchain,
    image,
    ...(locality === null ? {} : { locality }),
    ...(imageId === null ? {} : { imageId }),
  });
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** The make invocation every step shares; CC and HOSTCC from the toolchain, then its own make args. */
export function makeArgv(
  input: Pick<RecipeInput, 'runner' | 'recipe' | 'toolchain' | 'sourceDir' | 'buildDir'>,
): string[] {
  const [src, build] = mountsFor(input.sourceDir, input.buildDir).map((m) => input.runner.pathIn(m));
  const { toolchain } = input;
  const subdir = input.recipe.subdir ? `${src}/${input.recipe.subdir}` : src!;
  return [
    'make',
    '-C',
    subdir,
    `O=${build}`,
    `CC=${toolchain.cc}`,
    `HOSTCC=${toolchain.hostcc ?? toolchain.cc}`,
    ...toolchain.makeArgs,
  ];
}

/**
 * Problems with a `.config` after olddefconfig, one line each, e.g.
 * "CONFIG_LIVEPATCH=y requested but .config has '# CONFIG_LIVEPATCH is not set'".
 */
export function verifyFragment(configText: string, fragment: string[]): string[] {
  const lines = configText.split('\n');
  const problems: string[] = [];
  for (const want of fragment) {
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(want.trim());
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(want.trim());
    const name = m?.[1] ?? unset?.[1];
    if (!name) {
      problems.push(`config fragment line '${want}' is neither CONFIG_X=value nor '# CONFIG_X is not set'`);
      continue;
    }
    const have = lines.find((l) => l.startsWith(`${name}=`) || l === `# ${name} is not set`);
    if (have === want.trim()) continue;
    if (unset && have === undefined) continue; // an absent option is not set
    problems.push(
      `${want.trim()} requested but .config has ${have === undefined ? `no ${name} line` : `'${have}'`}`,
    );
  }
  return problems;
}

/** The fragment's lines that are neither `CONFIG_X=value` nor `# CONFIG_X is not set`. */
function badFragmentLines(fragment: string[]): string[] {
  return fragment.filter(
    (l) => !/^CONFIG_[A-Za-z0-9_]+=.*$/.test(l) && !/^# CONFIG_[A-Za-z0-9_]+ is not set$/.test(l),
  );
}

export async function runRecipe(input: RecipeInput): Promise<RecipeOutcome> {
  const started = Date.now();
  const deadline = started + input.limits.timeoutMs;
  const base = makeArgv(input);
  const [, build] = mountsFor(input.sourceDir, input.buildDir).map((m) => input.runner.pathIn(m));
  const fragment = fragmentOf(input.recipe, input.toolchain).map((l) => l.trim());
  const reusedConfig = input.configured;
  const cache = input.runner.isolated ? (input.compilerCache ?? null) : null;
  if (cache) mkdirSync(cache.hostDir, { recursive: true });

  const step = async (name: StepName, argv: string[], shown = argv): Promise<RunOutcome> => {
    input.onStep?.(name);
    appendFileSync(input.logPath, `== listci: ${name}: ${shown.join(' ')}\n`);
    return input.runner.run({
      image: input.image,
      argv,
      workdir: build!,
      mounts: mountsFor(input.sourceDir, input.buildDir, cache),
      // English messages for the log parser; HOME on the tmpfs; the compiler cache. Nothing else.
      env: { LC_ALL: 'C', HOME: '/tmp', ...(cache ? cacheEnv(cache) : {}) },
      limits: { ...input.limits, timeoutMs: Math.max(1000, deadline - Date.now()) },
      logPath: input.logPath,
      logCapBytes: input.logCapBytes,
      signal: input.signal,
    });
  };
  const done = (s: StepName, outcome: RunOutcome, configError: string | null = null): RecipeOutcome => ({
    step: s,
    outcome,
    configError,
    reusedConfig,
    durationMs: Date.now() - started,
  });
  const configFailure = (s: StepName, msg: string, logPrefix = ''): RecipeOutcome => {
    appendFileSync(input.logPath, `== listci: ${logPrefix}${msg}\n`);
    return done(s, botFailure(msg), msg);
  };
  const failed = (o: RunOutcome): boolean => o.exitCode !== 0 || o.botError !== null || o.timedOut;

  if (!reusedConfig) {
    const bad = badFragmentLines(fragment);
    if (bad.length > 0)
      return configFailure(
        'fragment',
        `config fragment line '${bad[0]}' is neither CONFIG_X=value nor '# CONFIG_X is not set'`,
      );
    const d = await step('defconfig', [...base, input.recipe.defconfigTarget]);
    if (failed(d)) return done('defconfig', d);
    const f = await step(
      'fragment',
      ['sh', '-c', FRAGMENT_SCRIPT, 'listci-fragment', ...fragment],
      ['put into .config:', ...fragment],
    );
    if (failed(f)) return done('fragment', f);
    const o = await step('olddefconfig', [...base, 'olddefconfig']);
    if (failed(o)) return done('olddefconfig', o);

    input.onStep?.('verify-config');
    let config;
    try {
      config = await readBuildFile(input.buildDir, '.config', MAX_CONFIG_BYTES);
    } catch (e) {
      if (!(e instanceof UnsafeFileError)) throw e;
      // The tree's own Makefiles made .config something else: the build's doing, not listci's.
      appendFileSync(input.logPath, `== listci: ${e.message}\n`);
      return done('verify-config', { ...o, exitCode: 1 });
    }
    if (config === null)
      return configFailure(
        'verify-config',
        `${input.recipe.defconfigTarget} and olddefconfig succeeded but wrote no .config in the build dir`,
      );
    const problems = verifyFragment(config.toString('utf8'), fragment);
    if (problems.length > 0)
      return configFailure(
        'verify-config',
        `${input.toolchain.name}: ${problems.join('; ')}`,
        'config fragment did not take effect: ',
      );
  }

  const m = await step('make', [...base, `-j${input.makeJobs}`, ...input.recipe.makeTargets]);
  return done('make', m);
}
