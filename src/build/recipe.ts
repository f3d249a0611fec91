import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, type RawConfig, type ToolchainConfig } from '../config/schema.ts';
import type { Mount, RunLimits, RunOutcome, Runner } from './runner.ts';

// The Xen recipe, as separate argv steps (no shell, nothing interpolated from mail):
//   make -C SRC/xen O=BUILD defconfig
//   append the fragment to BUILD/.config            (on the host: plain file I/O)
//   make -C SRC/xen O=BUILD olddefconfig            (setting only one option leaves the other stale)
//   verify every CONFIG_X=v of the fragment is in BUILD/.config
//   make -C SRC/xen O=BUILD -jN [targets]
// The config steps are skipped when BUILD already holds a .config made by the same recipe and
// toolchain (a stamp file records the hash): that is what keeps rebuilds incremental.

export type RecipeConfig = RawConfig['build']['recipe'];

/** Xen's recipe as the embedded defaults give it: live patching and unique symbols enforced. */
export const XEN_RECIPE: RecipeConfig = configSchema.parse({}).build.recipe;

export const SRC_IN_CONTAINER = '/src';
export const BUILD_IN_CONTAINER = '/build';
const STAMP = '.listci-config';

export interface RecipeInput {
  runner: Runner;
  recipe: RecipeConfig;
  toolchain: ToolchainConfig;
  image: string;
  /** Host path of the checked-out tree (mounted read-only). */
  sourceDir: string;
  /** Host path of the persistent, writable out-of-tree build dir. */
  buildDir: string;
  makeJobs: number;
  /** timeoutMs is for the whole recipe, not per step. */
  limits: RunLimits;
  logPath: string;
  logCapBytes: number;
  signal?: AbortSignal | undefined;
  onStep?: ((step: StepName) => void) | undefined;
}

export type StepName = 'defconfig' | 'olddefconfig' | 'verify-config' | 'make';

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

export function mountsFor(sourceDir: string, buildDir: string): Mount[] {
  return [
    { hostPath: sourceDir, containerPath: SRC_IN_CONTAINER, readOnly: true },
    { hostPath: buildDir, containerPath: BUILD_IN_CONTAINER, readOnly: false },
  ];
}

export function fragmentOf(recipe: RecipeConfig, toolchain: ToolchainConfig): string[] {
  return [...recipe.configFragment, ...toolchain.configFragment];
}

/** Identifies "the same build configuration": part of the baseline cache key and the build dir stamp. */
export function configHash(recipe: RecipeConfig, toolchain: ToolchainConfig, image: string): string {
  const key = JSON.stringify({ recipe, toolchain, image });
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

export async function runRecipe(input: RecipeInput): Promise<RecipeOutcome> {
  const started = Date.now();
  const deadline = started + input.limits.timeoutMs;
  const base = makeArgv(input);
  const [, build] = mountsFor(input.sourceDir, input.buildDir).map((m) => input.runner.pathIn(m));
  const fragment = fragmentOf(input.recipe, input.toolchain);
  const hash = configHash(input.recipe, input.toolchain, input.image);
  const configPath = join(input.buildDir, '.config');
  const stampPath = join(input.buildDir, STAMP);
  const reusedConfig =
    existsSync(configPath) && existsSync(stampPath) && readFileSync(stampPath, 'utf8').trim() === hash;

  const step = async (name: StepName, argv: string[]): Promise<RunOutcome> => {
    input.onStep?.(name);
    appendFileSync(input.logPath, `== listci: ${name}: ${argv.join(' ')}\n`);
    return input.runner.run({
      image: input.image,
      argv,
      workdir: build!,
      mounts: mountsFor(input.sourceDir, input.buildDir),
      // English messages for the log parser; HOME on the tmpfs. Nothing else.
      env: { LC_ALL: 'C', HOME: '/tmp' },
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
  const failed = (o: RunOutcome): boolean => o.exitCode !== 0 || o.botError !== null || o.timedOut;

  if (!reusedConfig) {
    const d = await step('defconfig', [...base, input.recipe.defconfigTarget]);
    if (failed(d)) return done('defconfig', d);
    if (!existsSync(configPath)) {
      return done(
        'defconfig',
        d,
        `${input.recipe.defconfigTarget} succeeded but wrote no .config in the build dir`,
      );
    }
    appendFileSync(configPath, `\n# listci config fragment\n${fragment.join('\n')}\n`);
    const o = await step('olddefconfig', [...base, 'olddefconfig']);
    if (failed(o)) return done('olddefconfig', o);
  }

  input.onStep?.('verify-config');
  const problems = verifyFragment(readFileSync(configPath, 'utf8'), fragment);
  if (problems.length > 0) {
    const msg = `${input.toolchain.name}: ${problems.join('; ')}`;
    appendFileSync(input.logPath, `== listci: config fragment did not take effect: ${msg}\n`);
    return done(
      'verify-config',
      {
        exitCode: null,
        timedOut: false,
        oomKilled: false,
        durationMs: 0,
        botError: msg,
        logTruncated: false,
      },
      msg,
    );
  }
  writeFileSync(stampPath, `${hash}\n`);

  const m = await step('make', [...base, `-j${input.makeJobs}`, ...input.recipe.makeTargets]);
  return done('make', m);
}
