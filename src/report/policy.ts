import type { Database } from 'better-sqlite3';
import type { Verdict } from '../contract.ts';
import { recentCountedRecipients, type ReplyState as StoredReplyState } from '../db/replies.ts';
import { addressOf, type Recipients } from './message.ts';

// Whether a reply goes out at all. A bot on a busy list is filtered out after one noisy
// week, so every reply that is not sent is still recorded, with the reason, and the
// rules are checked in this order:
//   1. the list's policy: always | failures | never
//   2. opt-out: an author who asked not to be mailed gets no mail; opted-out Cc are dropped
//   3. rate limits: per author per hour, then overall per hour (counted from `replies`)
//   4. dry-run: the .eml is written to the outbox directory instead of being sent

export interface ReplyPolicy {
  policy: 'always' | 'failures' | 'never';
  dryRun: boolean;
  optOut: string[];
  perAuthorPerHour: number;
  perHour: number;
}

/** What the policy decides; the outbox moves a reply on from there (sending, sent, failed). */
export type ReplyState = Extract<StoredReplyState, 'pending' | 'dry-run' | 'suppressed'>;

export interface ReplyDecision {
  state: ReplyState;
  reason: string | null;
  /** The recipients left after opt-out. */
  recipients: Recipients;
}

const HOUR_MS = 3600_000;

export function decideReply(
  db: Database,
  policy: ReplyPolicy,
  reply: { verdict: Verdict; recipients: Recipients; now: Date },
): ReplyDecision {
  const suppress = (reason: string, recipients = reply.recipients): ReplyDecision => ({
    state: 'suppressed',
    reason,
    recipients,
  });
  const byPolicy = policyReason(policy.policy, reply.verdict);
  if (byPolicy) return suppress(byPolicy);

  const optedOut = new Set(policy.optOut.map(addressOf));
  const author = reply.recipients.to[0];
  if (author === undefined) return suppress('no author to reply to');
  const authorAddr = addressOf(author);
  if (optedOut.has(authorAddr)) return suppress(`opt-out: ${authorAddr} asked not to receive listci mail`);
  const recipients: Recipients = {
    to: reply.recipients.to.filter((a) => !optedOut.has(addressOf(a))),
    cc: reply.recipients.cc.filter((a) => !optedOut.has(addressOf(a))),
  };

  const since = new Date(reply.now.getTime() - HOUR_MS).toISOString();
  const recent = recentCountedRecipients(db, since);
  const toAuthor = recent.filter((r) => {
    const to = (JSON.parse(r) as Recipients).to[0];
    return to !== undefined && addressOf(to) === authorAddr;
  }).length;
  if (toAuthor >= policy.perAuthorPerHour)
    return suppress(
      `rate limit: ${toAuthor} replies to ${authorAddr} in the last hour (limit ${policy.perAuthorPerHour})`,
      recipients,
    );
  if (recent.length >= policy.perHour)
    return suppress(
      `rate limit: ${recent.length} replies in the last hour (limit ${policy.perHour})`,
      recipients,
    );

  if (policy.dryRun)
    return { state: 'dry-run', reason: 'dry-run: written to the outbox directory', recipients };
  return { state: 'pending', reason: null, recipients };
}

function policyReason(policy: ReplyPolicy['policy'], verdict: Verdict): string | null {
  if (policy === 'never') return "policy 'never': recorded only";
  // An 'error' verdict is listci's own failure, not the series': under 'failures' the
  // author is not mailed about it (the run's page and the logs say what went wrong).
  if (policy === 'failures' && verdict !== 'fail')
    return `policy 'failures': the verdict is ${verdict}, nothing to report to the author`;
  return null;
}
