import { z } from 'zod';

// Every key here is documented in config/README.md; keep the two in step.
// Objects are strict: an unknown key is a typo until proven otherwise.

/** A secret is never written inline: the config names where to read it. */
export const secretRef = z.union(
  [z.strictObject({ file: z.string().min(1) }), z.strictObject({ env: z.string().min(1) })],
  { error: 'a secret is never inline: write { file: PATH } or { env: VARIABLE }' },
);
export type SecretRef = z.infer<typeof secretRef>;

const imapSource = z.strictObject({
  type: z.literal('imap'),
  host: z.string().min(1),
  port: z.number().int().positive().default(993),
  secure: z.boolean().default(true),
  user: z.string().min(1),
  password: secretRef,
  mailbox: z.string().default('INBOX'),
  /** Backstop re-check while IDLE is quiet, in seconds. */
  recheckSeconds: z.number().int().positive().default(300),
});

const maildirSource = z.strictObject({
  type: z.literal('maildir'),
  path: z.string().min(1),
  pollSeconds: z.number().positive().default(2),
});

const mboxSource = z.strictObject({
  type: z.literal('mbox'),
  path: z.string().min(1),
});

const publicInboxSource = z.strictObject({
  type: z.literal('public-inbox'),
  /** A public-inbox v2 archive: lore's https://lore.kernel.org/xen-devel, or a local inbox or mirror. */
  url: z.string().min(1),
  /** Between syncs; an unchanged epoch (manifest fingerprint) costs one HTTP request. */
  pollSeconds: z.number().positive().default(120),
  /** On the first sync only (no position kept yet), mail older than this is not imported: "1d", "2w", a date. */
  since: z
    .string()
    .regex(/^(\d+\s*[hdw]|\d{4}-\d{2}-\d{2}.*)$/i, { error: 'a span like 12h, 1d, 2w, or a date' })
    .default('1d'),
  /** The local mirror of the epochs; default workDir/public-inbox/<archive>. */
  mirror: z.string().min(1).nullable().default(null),
});

export const mailSource = z.discriminatedUnion('type', [
  imapSource,
  maildirSource,
  mboxSource,
  publicInboxSource,
]);

/** xen-devel, the list listci was written for: the embedded defaults' list. */
export const XEN_DEVEL_ADDRESSES: readonly string[] = [
  'xen-devel@lists.xenproject.org',
  'xen-devel@lists.xen.org',
];
/** The tag Mailman puts in xen-devel subjects: "[Xen-devel] [PATCH] ...". */
export const XEN_DEVEL_SUBJECT_PREFIX = 'Xen-devel';

/** series.maxPatches when the config does not say. */
export const DEFAULT_MAX_PATCHES = 200;

// One plain addr-spec: what the list's From and Cc headers carry, compared case-insensitively.
const PLAIN_ADDRESS = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:.]+$/;

const listSection = z.strictObject({
  name: z.string().min(1).default('local'),
  /**
   * Every address the list is known by (xen-devel has two). A From the list rewrote to one
   * of them (DMARC) is traced back to its author; the first is Cc'd on replies.
   */
  addresses: z
    .array(
      z.string().regex(PLAIN_ADDRESS, {
        error: (iss) =>
          `${JSON.stringify(iss.input)} is not a plain mail address (local@domain, no name or brackets)`,
      }),
    )
    .default(() => [...XEN_DEVEL_ADDRESSES]),
  /** The tag the list's software adds to subjects, without brackets; dropped when reading a subject's tags. */
  subjectPrefix: z
    .string()
    .regex(/^[^[\]\s]+$/, {
      error: (iss) =>
        `${JSON.stringify(iss.input)}: write the one tag the list adds, without brackets or spaces (e.g. ${XEN_DEVEL_SUBJECT_PREFIX})`,
    })
    .nullable()
    .default(XEN_DEVEL_SUBJECT_PREFIX),
});

const seriesSection = z.strictObject({
  /** An incomplete series is checked anyway after this many minutes, saying what was missing. */
  incompleteWaitMinutes: z.number().nonnegative().default(30),
  /** Patches without thread headers join a series by author+version+total within this window. */
  groupWindowMinutes: z.number().positive().default(120),
  /** A subject numbering more patches ("[PATCH 1/5000000]") is not a series: stored, marked, not grouped. */
  maxPatches: z.number().int().positive().default(DEFAULT_MAX_PATCHES),
});

const repoSection = z.strictObject({
  /** Where the mirror fetches from; a path works for local repositories. */
  url: z.string().min(1).nullable().default(null),
  mirror: z.string().min(1).default('./var/mirror.git'),
  defaultBranch: z.string().min(1).default('main'),
  /** Tried in order when the default branch does not exist or is unusable. */
  fallbackBranches: z.array(z.string().min(1)).default([]),
  /** Subject tag (regular expression, case-insensitive) to branch, e.g. "^for-(4\\.\\d+)$": "stable-$1". */
  branchMap: z.record(z.string(), z.string()).default({}),
  /** Worktrees kept for reuse; builds stay incremental in them. */
  worktrees: z.number().int().positive().default(2),
  /** The daemon fetches this often (fractions work: 0.5 is 30 s) and on a base it lacks. */
  fetchIntervalMinutes: z.number().positive().default(10),
  /**
   * While idle, build the baseline of each watched branch head (defaultBranch, fallbacks, the
   * branches series used lately) as soon as a fetch moves it: the next series finds it built.
   */
  warmUp: z.boolean().default(true),
  gitTimeoutSeconds: z.number().int().positive().default(300),
});

export const toolchain = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only'),
  image: z.string().min(1).nullable().default(null),
  cc: z.string().min(1).default('gcc'),
  hostcc: z.string().min(1).nullable().default(null),
  makeArgs: z.array(z.string()).default([]),
  configFragment: z.array(z.string()).default([]),
});
export type ToolchainConfig = z.infer<typeof toolchain>;

const recipe = z.strictObject({
  /** Directory of the tree that `make -C` enters (Xen: "xen"). */
  subdir: z.string().default('xen'),
  defconfigTarget: z.string().default('defconfig'),
  configFragment: z.array(z.string()).default(['CONFIG_LIVEPATCH=y', 'CONFIG_ENFORCE_UNIQUE_SYMBOLS=y']),
  /** Linked image whose symbols are checked, relative to the build dir. */
  image: z.string().default('xen-syms'),
  /** Checked when the build stopped at Xen's own duplicate check. */
  intermediateImage: z.string().default('.xen-syms.1'),
  makeTargets: z.array(z.string()).default([]),
});

export const buildSection = z.strictObject({
  /** local runs patches on the host: only for trusted trees (the demo). */
  runner: z.enum(['podman', 'docker', 'local']).default('podman'),
  /** Docker Engine API socket (Podman: `podman system service`). */
  socket: z.string().nullable().default(null),
  /** Toolchains built at once. */
  parallel: z.number().int().positive().default(1),
  makeJobs: z.number().int().positive().default(2),
  timeoutMinutes: z.number().positive().default(30),
  /** Whole check, host-side steps (git, checks) included; past it, a failed attempt of listci's own. */
  jobTimeoutMinutes: z.number().positive().default(120),
  memoryMb: z.number().int().positive().default(4096),
  pids: z.number().int().positive().default(4096),
  cpus: z.number().positive().default(2),
  logCapKb: z.number().int().positive().default(2048),
  /** Trusted baseline build dirs kept per toolchain (each 40-60 MB for Xen). */
  snapshotsPerToolchain: z.number().int().positive().default(3),
  /** A build dir past this size is stopped: the series' fault in a series build. */
  maxBuildDirMb: z.number().positive().default(8192),
  /** A series build may take this many times the last clean build of its toolchain... */
  seriesTimeoutFactor: z.number().positive().default(5),
  /** ...but at least this long (and never more than timeoutMinutes). */
  seriesTimeoutFloorMinutes: z.number().positive().default(5),
  /**
   * Compiler cache per toolchain (workDir/ccache/<toolchain>), in MB; 0 turns it off. Trusted
   * baseline builds read and write it; every other build mounts it read-only, so a series can
   * never plant an object that a later build takes. Container runners only.
   */
  ccacheMb: z.number().int().nonnegative().default(2048),
  /** Skip a toolchain whose architecture the series cannot reach (it changes only other xen/arch/ dirs). */
  skipUntouchedArch: z.boolean().default(true),
  /** Build after each patch to name the patch that introduced each finding. */
  perPatch: z.boolean().default(false),
  recipe: recipe.prefault({}),
  toolchains: z
    .array(toolchain)
    .min(1)
    .default([{ name: 'gcc', image: null, cc: 'gcc', hostcc: null, makeArgs: [], configFragment: [] }]),
});

/** A name in Redis: BullMQ joins keys with ':', so the prefix must not hold one. */
const REDIS_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Builds on BullMQ over Redis (`listci worker`s on other hosts), instead of in the daemon's own
 * process. Absent: the embedded default, one process and SQLite only. The daemon and every
 * worker name the same Redis and prefix.
 */
export const queueSection = z.strictObject({
  type: z.literal('redis'),
  /** redis://host:port[/db], rediss:// for TLS, or the path of a unix socket. No password here. */
  url: z
    .string()
    .min(1)
    .regex(/^(rediss?:\/\/|\/)/, {
      error: 'a redis:// or rediss:// URL, or the absolute path of a unix socket',
    })
    .refine((u) => !/^rediss?:\/\/[^/@]*:[^/@]*@/.test(u), {
      error: 'no password in the URL: write queue.password: { file: PATH } or { env: VARIABLE }',
    }),
  password: secretRef.nullable().default(null),
  /** Every key listci writes in Redis starts with this (queues, worker heartbeats). */
  prefix: z.string().regex(REDIS_NAME, 'letters, digits, dot, dash and underscore only').default('listci'),
  /** Daemon: checks it keeps in flight at once, each waiting for its toolchains' jobs. */
  maxInFlight: z.number().int().positive().default(4),
  /** Worker: how long a job's lock holds without renewal; renewed every half of it while the build runs. */
  lockSeconds: z.number().positive().default(60),
  /** Worker: how often it looks for jobs whose worker died (lock expired) and puts them back. */
  stalledSeconds: z.number().positive().default(30),
  /** A job found stalled more often than this fails (listci's error for that toolchain). */
  maxStalledCount: z.number().int().nonnegative().default(2),
  /** Tries of one toolchain's job (a worker's image missing, its engine down) before it is listci's error. */
  attempts: z.number().int().positive().default(3),
});
export type QueueConfig = z.infer<typeof queueSection>;

const smtpSection = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().positive().default(587),
  secure: z.boolean().default(false),
  user: z.string().nullable().default(null),
  password: secretRef.nullable().default(null),
});

const replySection = z.strictObject({
  policy: z.enum(['always', 'failures', 'never']).default('always'),
  /** Write the .eml to the outbox directory instead of sending. */
  dryRun: z.boolean().default(true),
  outbox: z.string().default('./var/outbox'),
  from: z.string().default('listci <listci@localhost>'),
  /** Cc the list's first address on every reply. */
  ccList: z.boolean().default(true),
  cc: z.array(z.string()).default([]),
  optOut: z.array(z.string()).default([]),
  perAuthorPerHour: z.number().int().positive().default(5),
  perHour: z.number().int().positive().default(60),
  /** Base URL of the web page, for a link to the run in each reply. */
  webUrl: z.string().nullable().default(null),
  smtp: smtpSection.nullable().default(null),
  /** First wait after a reply the SMTP server refused for now (4xx, no answer); doubles per try, up to an hour. */
  retryBaseSeconds: z.number().positive().default(60),
});

const webSection = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8780),
  enabled: z.boolean().default(true),
});

export const configSchema = z.strictObject({
  list: listSection.prefault({}),
  workDir: z.string().default('./var'),
  database: z.string().default('./var/listci.db'),
  mail: z
    .strictObject({ source: mailSource })
    .default({ source: { type: 'maildir', path: './var/inbox', pollSeconds: 2 } }),
  series: seriesSection.prefault({}),
  repo: repoSection.prefault({}),
  build: buildSection.prefault({}),
  reply: replySection.prefault({}),
  web: webSection.prefault({}),
  /** null: builds run in the daemon (the embedded default). */
  queue: queueSection.nullable().default(null),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
});

export type RawConfig = z.infer<typeof configSchema>;
