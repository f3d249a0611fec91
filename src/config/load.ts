import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { configSchema, type QueueConfig, type RawConfig, type SecretRef } from './schema.ts';

/** A config problem: one line naming the file, the key and what is wrong. Exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The parsed config with paths made absolute. Secrets are not read here: only the
 * commands that use them call readSecrets, so `serve` or `query` start without them.
 */
export type Config = RawConfig & {
  /** Where it came from: a path, or "embedded defaults". */
  source: string;
  /** Where relative paths in it resolve: the file's directory, else the working directory. */
  baseDir: string;
};

export interface Secrets {
  imapPassword: string | null;
  smtpPassword: string | null;
}

/** A config whose secrets have been read: what the daemon (IMAP in, SMTP out) runs on. */
export type ConfigWithSecrets = Config & { secrets: Secrets };

export interface LoadOptions {
  /** --config */
  path?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** --config FILE, else $LISTCI_CONFIG, else ./listci.yaml, else the embedded defaults. */
export function findConfigFile(opts: LoadOptions): string | null {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.path ?? env.LISTCI_CONFIG;
  if (explicit) {
    const p = resolve(cwd, explicit);
    if (!existsSync(p)) throw new ConfigError(`config: ${p}: file not found`);
    return p;
  }
  const local = resolve(cwd, 'listci.yaml');
  return existsSync(local) ? local : null;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const file = findConfigFile(opts);
  let data: unknown = {};
  if (file) {
    try {
      data = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (e) {
      const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
      throw new ConfigError(`config: ${file}: not valid YAML: ${msg}`);
    }
  }
  return parseConfig(data, { source: file ?? 'embedded defaults', baseDir: file ? dirname(file) : cwd });
}

export function parseConfig(data: unknown, ctx: { source: string; baseDir: string }): Config {
  const parsed = configSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new ConfigError(`config: ${ctx.source}: ${describeIssue(parsed.error)}`);
  const cfg = parsed.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(ctx.baseDir, p));
  cfg.workDir = abs(cfg.workDir);
  cfg.database = abs(cfg.database);
  cfg.repo.mirror = abs(cfg.repo.mirror);
  cfg.reply.outbox = abs(cfg.reply.outbox);
  const src = cfg.mail.source;
  if (src.type === 'maildir' || src.type === 'mbox') src.path = abs(src.path);
  if (src.type === 'public-inbox') {
    if (!/^https?:\/\//i.test(src.url)) src.url = abs(src.url);
    if (src.mirror) src.mirror = abs(src.mirror);
  }
  for (const [pattern] of Object.entries(cfg.repo.branchMap)) {
    try {
      new RegExp(pattern, 'i');
    } catch (e) {
      throw new ConfigError(
        `config: ${ctx.source}: repo.branchMap: "${pattern}" is not a valid regular expression (${(e as Error).message})`,
      );
    }
  }
  return { ...cfg, source: ctx.source, baseDir: ctx.baseDir };
}

/**
 * The Redis password a queue section names, read now (the daemon's and a worker's alike);
 * null when Redis needs none.
 */
export function queuePassword(
  queue: Pick<QueueConfig, 'password'>,
  ctx: { source: string; baseDir: string },
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  return queue.password ? readSecret('queue.password', queue.password, ctx, env) : null;
}

/**
 * Reads the secrets the config names (the IMAP and SMTP passwords). A missing file or
 * unset variable is a ConfigError naming the key; call it in the commands that use them.
 */
export function readSecrets(config: Config, env: NodeJS.ProcessEnv = process.env): Secrets {
  const read = (key: string, ref: SecretRef | null) => (ref ? readSecret(key, ref, config, env) : null);
  const src = config.mail.source;
  return {
    imapPassword: src.type === 'imap' ? read('mail.source.password', src.password) : null,
    smtpPassword: read('reply.smtp.password', config.reply.smtp?.password ?? null),
  };
}

export function withSecrets(config: Config, env: NodeJS.ProcessEnv = process.env): ConfigWithSecrets {
  return { ...config, secrets: readSecrets(config, env) };
}

/** One secret the config names, read now; a ConfigError naming `key` when it cannot be. */
export function readSecret(
  key: string,
  ref: SecretRef,
  ctx: { source: string; baseDir: string },
  env: NodeJS.ProcessEnv,
) {
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '')
      throw new ConfigError(`config: ${ctx.source}: ${key}: environment variable ${ref.env} is not set`);
    return v;
  }
  const p = isAbsolute(ref.file) ? ref.file : resolve(ctx.baseDir, ref.file);
  try {
    return readFileSync(p, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'secret file not found' : `secret file cannot be read (${code ?? e})`;
    throw new ConfigError(`config: ${ctx.source}: ${key}: ${why}: ${p}`);
  }
}

/** zod's first issue as "key.path: problem", the way a person reads it. */
export function describeIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'invalid_type') {
    return `${path || '(top level)'}: expected ${issue.expected}${receivedOf(issue.input)}`;
  }
  return `${path || '(top level)'}: ${issue.message}`;
}

function receivedOf(input: unknown): string {
  if (input === undefined) return ', but it is missing';
  const t = Array.isArray(input) ? 'array' : input === null ? 'null' : typeof input;
  return `, got ${t} ${JSON.stringify(input)?.slice(0, 40) ?? ''}`.trimEnd();
}
