import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/ingest/backoff.ts';

test('reconnect delays double up to the cap and start over after a good connection', () => {
  const b = new Backoff(1000, 60_000);
  assert.deepEqual(
    Array.from({ length: 8 }, () => b.next()),
    [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000],
  );
  b.reset();
  assert.equal(b.next(), 1000);
});

test('a backoff whose cap is below its first delay is refused', () => {
  assert.throws(() => new Backoff(5000, 1000), /bad backoff: initial 5000 ms, max 1000 ms/);
});
