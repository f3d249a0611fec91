import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError, describeIssue } from './load.ts';
import { buildSection, queueSection, toolchain } from './schema.ts';

// The config of `listci worker -c worker.yaml`: one build host. It names the Redis the daemon
// queues builds on, the work dir where the worker keeps its own mirrors, worktrees, snapshots
// and compiler caches, the host's build limits, and the toolchains it offers. What a series is
// built with (recipe, toolchain flags, time rules) comes with each job from the daemon, so
// every worker judges a series the same way.

/**
 * The host's own build settings. The rest (recipe, time and size limits, per-patch builds) is
 * the daemon's build section, sent with each job, so a series meets the same rules anywhere.
 */
const workerBuild = buildSection.pick({
  runner: true,
  socket: true,
  makeJobs: true,
  memoryMb: true,
  pids: true,
  cpus: true,
  ccacheMb: true,
  snapshotsPerToolchain: true,
});
export type WorkerBuildConfig = z.infer<typeof workerBuild>;

/**
 * A toolchain the worker offers: its name alone, or its name and what this host calls it, an
 * image (container runners) or a compiler (the local runner). Everything else about a
 * toolchain (flags, config fragment) comes from the daemon's config with each job; an image
 * or compiler named here replaces the daemon's on this host.
 */
const offered = z.preprocess(
  (v) => (typeof v === 'string' ? { name: v } : v),
  z.strictObject({
    name: toolchain.shape.name,
    image: z.string().min(1).nullable().default(null),
    cc: z.string().min(1).nullable().default(null),
    hostcc: z.string().min(1).nullable().default(null),
  }),
);
export type OfferedToolchain = z.infer<typeof offered>;

export const workerConfigSchema = z.strictObject({
  queue: queueSection,
  workDir: z.string().min(1).default('./var/worker'),
  /** How the daemon and `listci query workers` name this worker; default <hostname>-<pid>. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only')
    .nullable()
    .default(null),
  /** Jobs built at once on this host, across all its toolchains. */
  concurrency: z.number().int().positive().default(1),
  /** Between heartbeats; the daemon takes a worker as gone after three missed ones. */
  heartbeatSeconds: z.number().positive().default(5),
  build: workerBuild.prefault({}),
  toolchains: z.array(offered).min(1, { error: 'name at least one toolchain this host can build' }),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
});

export type WorkerConfig = Omit<z.infer<typeof workerConfigSchema>, 'name'> & {
  name: string;
  /** The file it came from. */
  source: string;
  baseDir: string;
};

export function loadWorkerConfig(path: string, cwd = process.cwd()): WorkerConfig {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new ConfigError(`config: ${file}: file not found`);
  let data: unknown;
  try {
    data = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new ConfigError(`config: ${file}: not valid YAML: ${msg}`);
  }
  return parseWorkerConfig(data, { source: file, baseDir: dirname(file) });
}

export function parseWorkerConfig(data: unknown, ctx: { source: string; baseDir: string }): WorkerConfig {
  const parsed = workerConfigSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new ConfigError(`config: ${ctx.source}: ${describeIssue(parsed.error)}`);
  const cfg = parsed.data;
  const seen = new Set<string>();
  cfg.toolchains.forEach((t, i) => {
    if (seen.has(t.name))
      throw new ConfigError(`config: ${ctx.source}: toolchains.${i}: ${t.name} is listed twice`);
    seen.add(t.name);
  });
  return {
    ...cfg,
    workDir: isAbsolute(cfg.workDir) ? cfg.workDir : resolve(ctx.baseDir, cfg.workDir),
    name: cfg.name ?? defaultWorkerName(),
    source: ctx.source,
    baseDir: ctx.baseDir,
  };
}

function defaultWorkerName(): string {
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}`;
}
