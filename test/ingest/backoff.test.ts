import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, FailureCount } from '../../src/backoff.ts';

test('reconnect delays double up to the cap and start over after a good connection', () => {
  const b = new FailureCount({ baseMs: 1000, maxMs: 60_000 });
  assert.deepEqual(
    Array.from({ length: 8 }, () => b.next()),
    [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000],
  );
  b.reset();
  assert.equal(b.next(), 1000);
});

test('a backoff whose cap is below its first delay is refused', () => {
  assert.throws(
    () => new FailureCount({ baseMs: 5000, maxMs: 1000 }),
    /bad backoff: initial 5000 ms, max 1000 ms/,
  );
});

test('one backoff: the delay after the n-th failure, capped, or uncapped with an infinite cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => backoffDelay(n, { baseMs: 30_000, maxMs: Infinity })),
    [30_000, 60_000, 120_000, 240_000],
  );
  assert.equal(backoffDelay(0, { baseMs: 10, maxMs: 100 }), 10, 'no failure yet: the first delay');
  assert.equal(backoffDelay(1000, { baseMs: 10, maxMs: 100 }), 100);
});
