/**
 * Exponential delay between reconnect attempts: doubles on each failure up to a cap, and
 * starts over once a connection has worked, so a flapping server is not hammered and a
 * single outage does not leave the next one waiting the full cap.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    if (initialMs <= 0 || maxMs < initialMs)
      throw new Error(`bad backoff: initial ${initialMs} ms, max ${maxMs} ms`);
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const ms = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return ms;
  }

  reset(): void {
    this.failures = 0;
  }
}
