import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * Appends a build step's output to its log file, keeping at most `capBytes`: the first half as it
 * comes (where the first error usually is) and the last half in memory (where make says what
 * failed). What was dropped between them is said in the log itself, so a reader knows.
 */
export class CappedLog {
  private readonly fd: number;
  private readonly headCap: number;
  private readonly tailCap: number;
  private headWritten = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;
  /**
   * The first write that failed (a full disk), in words: the rest of the output is dropped and
   * the runner reports this as listci's error. A throw here would happen in a stream's 'data'
   * handler, where it takes the whole daemon down.
   */
  writeError: string | null = null;

  constructor(
    private readonly path: string,
    capBytes: number,
  ) {
    this.fd = openSync(path, 'a');
    this.headCap = Math.floor(capBytes / 2);
    this.tailCap = capBytes - this.headCap;
  }

  write(chunk: Buffer | string): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.headWritten < this.headCap) {
      const n = Math.min(buf.length, this.headCap - this.headWritten);
      this.put(buf.subarray(0, n));
      this.headWritten += n;
      buf = buf.subarray(n);
    }
    if (buf.length === 0) return;
    this.tail.push(buf);
    this.tailBytes += buf.length;
    while (this.tailBytes > this.tailCap) {
      const first = this.tail[0]!;
      const excess = this.tailBytes - this.tailCap;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  /** Writes the kept tail (after a note of what was dropped) and closes the file. */
  close(): void {
    if (this.dropped > 0) {
      this.put(`\n[listci: ${this.dropped} bytes of build output dropped here (log cap)]\n`);
    }
    for (const b of this.tail) this.put(b);
    this.tail = [];
    try {
      closeSync(this.fd);
    } catch (e) {
      this.writeError ??= `cannot write the build log ${this.path}: ${(e as Error).message}`;
    }
  }

  private put(b: Buffer | string): void {
    if (this.writeError) return;
    try {
      writeSync(this.fd, typeof b === 'string' ? Buffer.from(b) : b);
    } catch (e) {
      this.writeError = `cannot write the build log ${this.path}: ${(e as Error).message}`;
    }
  }
}
