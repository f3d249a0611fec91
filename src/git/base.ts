import type { BaseChoice, BaseRule, BaseStep } from '../contract.ts';
import type { PatchMail, SeriesToCheck } from '../series/types.ts';
import { fetchCommit, type MirrorConfig } from './mirror.ts';
import { isSafeRev, resolveCommit, type GitCallOptions } from './run.ts';
import { readBaseTrailers, type BaseTrailers } from './trailers.ts';

export interface BaseRepoConfig {
  defaultBranch: string;
  fallbackBranches: string[];
  /** Subject tag regex (case-insensitive, whole tag) → branch, `$1` etc. substituted. */
  branchMap: Record<string, string>;
}

export interface BaseContext {
  mirror: MirrorConfig;
  repo: BaseRepoConfig;
  /** `listci check --base REF`: the person said so; nothing else is tried. */
  explicitBase?: string | null;
  /** The database's lookup of an earlier series by the Message-ID of its cover or first patch. */
  resolveBasedOn?: (messageId: string) => Promise<SeriesToCheck | null>;
  /** Based-on chains longer than this are refused (a loop, or a stack nobody can review). */
  maxBasedOnDepth?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface BaseDecision {
  choice: BaseChoice;
  /** Patches of the series this one is Based-on, oldest first, to apply before its own. */
  prerequisites: PatchMail[];
}

/** No rule produced a commit: listci cannot judge the series (exit 2), and says why. */
export class NoBaseError extends Error {
  constructor(readonly steps: BaseStep[]) {
    super(`no usable base: ${steps.map((s) => `${s.rule}: ${s.detail}`).join('; ')}`);
    this.name = 'NoBaseError';
  }
}

/** What a rule returns: always a step for the record; a choice when it settled the question. */
interface RuleResult {
  steps: BaseStep[];
  chosen?: { commit: string; ref: string | null; reason: string; prerequisites?: PatchMail[] };
}

type Rule = (
  series: SeriesToCheck,
  trailers: BaseTrailers,
  ctx: BaseContext,
  depth: number,
) => Promise<RuleResult>;

/**
 * The base cascade. Rules run in this order and the first that yields a commit wins; every
 * rule tried is recorded in `steps`, so a reply can say "base-commit 1234abcd is unknown
 * upstream, so this was applied on staging" instead of a bare "cannot apply".
 */
const CASCADE: Rule[] = [baseCommitTrailer, basedOnSeries, subjectTagBranch, defaultBranch, fallbackBranches];

export async function chooseBase(series: SeriesToCheck, ctx: BaseContext, depth = 0): Promise<BaseDecision> {
  const steps: BaseStep[] = [];
  const rules = ctx.explicitBase ? [explicitBase] : CASCADE;
  const trailers = await readBaseTrailers(series);
  for (const rule of rules) {
    const r = await rule(series, trailers, ctx, depth);
    steps.push(...r.steps);
    if (r.chosen) {
      const { commit, ref, prerequisites = [] } = r.chosen;
      // A fall-through is news to the author ("your base-commit is unknown upstream"): keep it in the one line.
      const missed = steps.find((s) => s.outcome === 'unavailable');
      const reason = missed ? `${r.chosen.reason}, because ${missed.detail}` : r.chosen.reason;
      return { choice: { commit, ref, reason, steps }, prerequisites };
    }
  }
  throw new NoBaseError(steps);
}

function call(ctx: BaseContext): GitCallOptions {
  return { signal: ctx.signal, timeoutMs: ctx.timeoutMs };
}

const short = (sha: string): string => sha.slice(0, 12);

/**
 * `listci check --base REF`: a contributor or maintainer names the base. Nothing else is
 * tried: a wrong guess would be worse than "REF does not exist".
 *
 *     $ listci check --mbox v3.mbox --base stable-4.18
 */
async function explicitBase(_s: SeriesToCheck, _t: BaseTrailers, ctx: BaseContext): Promise<RuleResult> {
  const ref = ctx.explicitBase!;
  const commit =
    (await resolveCommit(ctx.mirror.path, `refs/heads/${ref}`, call(ctx))) ??
    (await resolveCommit(ctx.mirror.path, ref, call(ctx)));
  if (!commit)
    return {
      steps: [{ rule: 'explicit', outcome: 'unavailable', detail: `--base ${ref} is not in the mirror` }],
    };
  return {
    steps: [{ rule: 'explicit', outcome: 'chosen', detail: `--base ${ref} is ${short(commit)}` }],
    chosen: { commit, ref, reason: `given with --base ${ref}` },
  };
}

/**
 * The author said exactly where the series goes. `git format-patch --base=auto` writes
 *
 *     [PATCH 0/3] x86/hvm: ...
 *     ...
 *     base-commit: 1a2b3c4d...            <- a commit on staging two weeks ago
 *
 * staging has moved on since, and may even conflict; the series must be judged on the tree
 * it was written for. A commit the mirror lacks is fetched by sha; if upstream does not have
 * it either (a private branch), say so and fall through.
 */
async function baseCommitTrailer(_s: SeriesToCheck, t: BaseTrailers, ctx: BaseContext): Promise<RuleResult> {
  if (!t.baseCommit)
    return { steps: [{ rule: 'base-commit', outcome: 'skipped', detail: 'no base-commit: trailer' }] };
  const { sha, source } = t.baseCommit;
  let commit = await resolveCommit(ctx.mirror.path, sha, call(ctx));
  let how = 'found in mirror';
  if (!commit && (await fetchCommit(ctx.mirror, sha, call(ctx)))) {
    commit = sha;
    how = 'fetched from upstream by sha';
  }
  if (!commit)
    return {
      steps: [
        {
          rule: 'base-commit',
          outcome: 'unavailable',
          detail: `base-commit ${short(sha)} (${source}) is not in the mirror and upstream does not have it`,
        },
      ],
    };
  return {
    steps: [
      { rule: 'base-commit', outcome: 'chosen', detail: `base-commit ${short(sha)} (${source}), ${how}` },
    ],
    chosen: { commit, ref: null, reason: `base-commit trailer of ${source} (${how})` },
  };
}

/**
 * A series stacked on another one still under review (patchew's convention):
 *
 *     [PATCH 0/2] xen/arm: use the new helper
 *     Based-on: <20240501.1234-1-alice@example.org>    <- cover of an earlier series
 *
 * Neither staging nor the earlier series' base can apply it alone. The earlier series is
 * looked up, its own base chosen (recursively, bounded), and its patches go in first.
 */
async function basedOnSeries(
  series: SeriesToCheck,
  t: BaseTrailers,
  ctx: BaseContext,
  depth: number,
): Promise<RuleResult> {
  const prereqNote =
    t.prerequisitePatchIds.length > 0
      ? ` (${t.prerequisitePatchIds.length} prerequisite-patch-id line(s) noted; listci cannot look patches up by patch-id)`
      : '';
  if (t.basedOn.length === 0)
    return {
      steps: [{ rule: 'based-on', outcome: 'skipped', detail: `no Based-on: trailer${prereqNote}` }],
    };
  const steps: BaseStep[] = [];
  const maxDepth = ctx.maxBasedOnDepth ?? 3;
  for (const { messageId, source } of t.basedOn) {
    if (depth >= maxDepth) {
      steps.push({
        rule: 'based-on',
        outcome: 'unavailable',
        detail: `Based-on <${messageId}> (${source}) not followed: chain deeper than ${maxDepth}`,
      });
      continue;
    }
    const earlier = ctx.resolveBasedOn ? await ctx.resolveBasedOn(messageId) : null;
    if (!earlier) {
      steps.push({
        rule: 'based-on',
        outcome: 'unavailable',
        detail: `Based-on <${messageId}> (${source}) is a series listci has not seen`,
      });
      continue;
    }
    let inner: BaseDecision;
    try {
      inner = await chooseBase(earlier, { ...ctx, explicitBase: null }, depth + 1);
    } catch (e) {
      if (!(e instanceof NoBaseError)) throw e;
      steps.push({
        rule: 'based-on',
        outcome: 'unavailable',
        detail: `Based-on <${messageId}> ("${earlier.title}") has no usable base itself`,
      });
      continue;
    }
    const n = earlier.patches.length;
    steps.push({
      rule: 'based-on',
      outcome: 'chosen',
      detail: `on top of "${earlier.title}" v${earlier.version} (${n} patch${n === 1 ? '' : 'es'}), itself on ${inner.choice.reason}`,
    });
    return {
      steps,
      chosen: {
        commit: inner.choice.commit,
        ref: inner.choice.ref,
        reason: `Based-on "${earlier.title}" v${earlier.version}, applied first on ${inner.choice.ref ?? short(inner.choice.commit)}`,
        prerequisites: [...inner.prerequisites, ...earlier.patches],
      },
    };
  }
  return { steps };
}

/**
 * A subject tag names the target branch; Xen backports are posted as
 *
 *     [PATCH for-4.19 v2 1/2] x86/spec-ctrl: ...
 *
 * and belong on stable-4.19, where staging would conflict or, worse, apply and blame the
 * series for breakage that only exists on staging. The mapping is config (`repo.branchMap`).
 */
async function subjectTagBranch(
  series: SeriesToCheck,
  _t: BaseTrailers,
  ctx: BaseContext,
): Promise<RuleResult> {
  const steps: BaseStep[] = [];
  for (const tag of series.tags) {
    for (const [pattern, target] of Object.entries(ctx.repo.branchMap)) {
      const re = new RegExp(pattern, 'i');
      const m = re.exec(tag);
      if (!m || m[0] !== tag) continue;
      const branch = tag.replace(re, target);
      const commit = isSafeRev(branch)
        ? await resolveCommit(ctx.mirror.path, `refs/heads/${branch}`, call(ctx))
        : null;
      if (!commit) {
        steps.push({
          rule: 'subject-tag',
          outcome: 'unavailable',
          detail: `subject tag "${tag}" maps to ${branch}, which the mirror does not have`,
        });
        continue;
      }
      steps.push({
        rule: 'subject-tag',
        outcome: 'chosen',
        detail: `subject tag "${tag}" maps to ${branch} (${short(commit)})`,
      });
      return { steps, chosen: { commit, ref: branch, reason: `subject tag "${tag}" → ${branch}` } };
    }
  }
  if (steps.length === 0) {
    const tags = series.tags.length ? series.tags.map((t) => `"${t}"`).join(', ') : 'none';
    steps.push({
      rule: 'subject-tag',
      outcome: 'skipped',
      detail: `no subject tag maps to a branch (tags: ${tags})`,
    });
  }
  return { steps };
}

/**
 * Nothing in the mail says where it goes, the usual case:
 *
 *     [PATCH v3 0/5] xen/sched: ...        (no trailer, no for-4.NN tag)
 *
 * It goes on the branch patches land on (Xen: staging, not master, which lags behind).
 */
async function defaultBranch(_s: SeriesToCheck, _t: BaseTrailers, ctx: BaseContext): Promise<RuleResult> {
  return branchRule('default-branch', ctx.repo.defaultBranch, 'default branch', ctx);
}

/**
 * The default branch is missing from the mirror (renamed upstream, not fetched yet); the
 * configured fallbacks are tried in order, e.g. staging → master.
 */
async function fallbackBranches(_s: SeriesToCheck, _t: BaseTrailers, ctx: BaseContext): Promise<RuleResult> {
  const steps: BaseStep[] = [];
  for (const b of ctx.repo.fallbackBranches) {
    const r = await branchRule('fallback', b, 'fallback branch', ctx);
    steps.push(...r.steps);
    if (r.chosen) return { steps, chosen: r.chosen };
  }
  if (ctx.repo.fallbackBranches.length === 0)
    steps.push({ rule: 'fallback', outcome: 'skipped', detail: 'no fallback branches configured' });
  return { steps };
}

async function branchRule(
  rule: BaseRule,
  branch: string,
  what: string,
  ctx: BaseContext,
): Promise<RuleResult> {
  const commit = await resolveCommit(ctx.mirror.path, `refs/heads/${branch}`, call(ctx));
  if (!commit)
    return { steps: [{ rule, outcome: 'unavailable', detail: `${what} ${branch} is not in the mirror` }] };
  return {
    steps: [{ rule, outcome: 'chosen', detail: `${what} ${branch} at ${short(commit)}` }],
    chosen: { commit, ref: branch, reason: `${what} ${branch} at ${short(commit)}` },
  };
}
