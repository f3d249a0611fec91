// A worker thread of queue.test.ts's race: its own connection to the queue's file, claiming
// as fast as it can once the test says go.
import { parentPort, workerData } from 'node:worker_threads';
import { claim } from '../../src/db/jobs.ts';
import { openDb } from '../../src/db/open.ts';

const { path, start } = workerData as { path: string; start: SharedArrayBuffer };
const db = openDb(path, { migrate: false });
Atomics.wait(new Int32Array(start), 0, 0);
const claimed: number[] = [];
for (let job = claim(db, ['check']); job; job = claim(db, ['check'])) claimed.push(job.ref_id);
db.close();
parentPort!.postMessage(claimed);
