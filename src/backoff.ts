// listci's one backoff: exponential and capped. The IMAP source waits with it between
// reconnects, the outbox between tries of a reply the SMTP server refused for now, and the
// job queue before a failed check runs again.

export interface Backoff {
  /** The delay after the first failure; each further failure doubles it. */
  baseMs: number;
  /** No delay is longer (Infinity: uncapped). */
  maxMs: number;
}

/** Delay after the n-th failed attempt (1-based): base, 2×base, 4×base, … capped at maxMs. */
export function backoffDelay(failures: number, b: Backoff): number {
  return Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(0, failures - 1), 30));
}

/**
 * The backoff of a loop that retries until it works (a reconnect): counts failures, and
 * starts over once a connection has worked, so a flapping server is not hammered and a
 * single outage does not leave the next one waiting the full cap.
 */
export class FailureCount {
  private failures = 0;

  constructor(private readonly backoff: Backoff) {
    if (!(backoff.baseMs > 0) || !(backoff.maxMs >= backoff.baseMs))
      throw new Error(`bad backoff: initial ${backoff.baseMs} ms, max ${backoff.maxMs} ms`);
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    return backoffDelay(++this.failures, this.backoff);
  }

  reset(): void {
    this.failures = 0;
  }
}
