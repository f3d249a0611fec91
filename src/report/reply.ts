import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { RawConfig } from '../config/schema.ts';
import { buildReplyMessage, replyRecipients } from './message.ts';
import { enqueueReply } from './outbox.ts';
import { decideReply, type ReplyState } from './policy.ts';
import { renderReply, type ReplyInput } from './render.ts';

// One call for the wiring: render the reply for a finished run, decide by policy, record
// it in the outbox (every reply is recorded, sent or not), and in dry-run write the .eml.
// Sending is deliverPending's job, on its own schedule.

export interface QueueReplyOptions {
  reply: RawConfig['reply'];
  /** The list's first address (config list.addresses[0]), Cc'd when reply.ccList is set. */
  listAddress: string | null;
  input: Omit<ReplyInput, 'from' | 'webUrl'>;
  now?: Date;
  nonce?: string;
}

export interface QueuedReply {
  replyId: number;
  state: ReplyState | string;
  reason: string | null;
  messageId: string;
  /** false when the run already had a reply recorded: nothing was changed. */
  inserted: boolean;
  /** Dry-run only: where the .eml was written. */
  emlPath: string | null;
}

export async function queueReply(db: Database, opts: QueueReplyOptions): Promise<QueuedReply> {
  const now = opts.now ?? new Date();
  const cfg = opts.reply;
  const input: ReplyInput = { ...opts.input, from: cfg.from, webUrl: cfg.webUrl };
  const decision = decideReply(db, cfg, {
    verdict: input.result.verdict,
    recipients: replyRecipients({
      author: input.head.author,
      listAddress: opts.listAddress,
      ccList: cfg.ccList,
      cc: cfg.cc,
    }),
    now,
  });
  const message = await buildReplyMessage({
    rendered: renderReply(input),
    head: input.head,
    runId: input.runId,
    verdict: input.result.verdict,
    from: cfg.from,
    recipients: decision.recipients,
    date: now,
    ...(opts.nonce ? { nonce: opts.nonce } : {}),
  });
  const queued = enqueueReply(db, input.runId, message, {
    state: decision.state,
    reason: decision.reason,
    now,
  });
  let emlPath: string | null = null;
  if (queued.inserted && decision.state === 'dry-run') {
    mkdirSync(cfg.outbox, { recursive: true });
    emlPath = join(cfg.outbox, `run-${input.runId}.eml`);
    writeFileSync(emlPath, message.raw);
  }
  return {
    replyId: queued.id,
    state: queued.state,
    reason: queued.inserted ? decision.reason : null,
    messageId: queued.messageId,
    inserted: queued.inserted,
    emlPath,
  };
}
