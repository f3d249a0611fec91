// The JSON API: the same queries as `listci query`, documented in docs/api.md.
import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Database } from 'better-sqlite3';
import { logPathOfBuild } from '../db/builds.ts';
import { schemaVersion } from '../db/migrate.ts';
import type { SeriesFilters } from '../query/types.ts';
import { listFindings } from '../query/findings.ts';
import { getRun } from '../query/run-detail.ts';
import { getSeries } from '../query/series-detail.ts';
import { listSeries, MAX_LIMIT } from '../query/series-list.ts';
import { parseSince } from '../since.ts';
import { replyLatency, weeklyStats } from '../query/stats.ts';
import { listWorkerViews } from '../query/workers.ts';
import { resolveLogPath } from './logs.ts';
import { metricsText } from './metrics.ts';

export const METRICS_TTL_MS = 10_000;

/** A request the server understood but cannot answer as asked: a 400 naming the parameter. */
export class BadRequest extends Error {}

export function sinceParam(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return parseSince(value);
  } catch (e) {
    throw new BadRequest((e as Error).message);
  }
}

const str = { type: 'string', maxLength: 500 } as const;
const verdictEnum = { type: 'string', enum: ['pass', 'fail', 'error'] } as const;

const pagingProps = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 50 },
  cursor: str,
  page: { type: 'integer', minimum: 1 },
} as const;

const seriesQuery = {
  type: 'object',
  properties: {
    author: str,
    subject: str,
    list: str,
    verdict: verdictEnum,
    toolchain: str,
    since: str,
    version: { type: 'integer', minimum: 1 },
    ...pagingProps,
  },
} as const;

// No response schemas: fastify drops every field a response schema does not list, so a
// second copy of query/types.ts here would silently hide each field added there. The
// handlers return those types as they are (test/web/api-contract.test.ts).

const idParam = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 } },
  required: ['id'],
} as const;

function notFound(reply: FastifyReply, message: string) {
  return reply.code(404).send({ statusCode: 404, error: 'Not Found', message });
}

export function registerApi(app: FastifyInstance, db: Database, workDir: string): void {
  app.get<{
    Querystring: SeriesFilters & { limit: number; cursor?: string; page?: number };
  }>('/api/series', { schema: { querystring: seriesQuery } }, async (req) => {
    const q = req.query;
    return listSeries(
      db,
      {
        author: q.author,
        subject: q.subject,
        list: q.list,
        verdict: q.verdict,
        toolchain: q.toolchain,
        since: sinceParam(q.since),
        version: q.version,
      },
      { limit: q.limit, cursor: q.cursor ?? null, page: q.page ?? null },
    );
  });

  app.get<{ Params: { key: string } }>('/api/series/:key', async (req, reply) => {
    const s = getSeries(db, req.params.key);
    return s ?? notFound(reply, `series ${req.params.key}: no series has this id or Message-ID`);
  });

  app.get<{ Params: { id: number } }>(
    '/api/runs/:id',
    { schema: { params: idParam } },
    async (req, reply) => {
      const r = getRun(db, req.params.id);
      return r ?? notFound(reply, `run ${req.params.id}: no such run`);
    },
  );

  app.get<{
    Querystring: {
      symbol?: string;
      toolchain?: string;
      newOnly?: boolean;
      kind?: string;
      since?: string;
      limit: number;
      cursor?: string;
      page?: number;
    };
  }>(
    '/api/findings',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            symbol: str,
            toolchain: str,
            newOnly: { type: 'boolean', default: false },
            kind: str,
            since: str,
            ...pagingProps,
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      return listFindings(
        db,
        {
          symbol: q.symbol,
          toolchain: q.toolchain,
          newOnly: q.newOnly,
          kind: q.kind,
          since: sinceParam(q.since),
        },
        { limit: q.limit, cursor: q.cursor ?? null, page: q.page ?? null },
      );
    },
  );

  app.get<{ Querystring: { since?: string } }>(
    '/api/stats',
    { schema: { querystring: { type: 'object', properties: { since: str } } } },
    async (req) => {
      const since = sinceParam(req.query.since ?? '12w')!;
      return { since, weeks: weeklyStats(db, since), latency: replyLatency(db, since) };
    },
  );

  // Build hosts and queue depth as the daemon last recorded them (queue.type: redis).
  app.get('/api/workers', async () => listWorkerViews(db));

  app.get<{ Params: { id: number } }>(
    '/api/builds/:id/log',
    { schema: { params: idParam } },
    async (req, reply) => {
      const logPath = logPathOfBuild(db, req.params.id);
      if (logPath === undefined) return notFound(reply, `build ${req.params.id}: no such build`);
      if (!logPath) return notFound(reply, `build ${req.params.id}: no log was kept`);
      const file = resolveLogPath(workDir, logPath);
      if (!file)
        return notFound(reply, `build ${req.params.id}: its log is missing or not under the work dir`);
      return reply
        .type('text/plain; charset=utf-8')
        .header('Content-Disposition', 'inline')
        .send(createReadStream(file));
    },
  );

  // The histograms scan every build and run (about 1 s at 100,000 series): several scrapers
  // or a tight scrape interval share one computation per METRICS_TTL_MS.
  let metrics: { at: number; text: string } | null = null;
  app.get('/metrics', async (_req, reply) => {
    if (!metrics || Date.now() - metrics.at > METRICS_TTL_MS)
      metrics = { at: Date.now(), text: metricsText(db) };
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.text);
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      return { ok: true, schemaVersion: schemaVersion(db) };
    } catch (e) {
      return reply.code(503).send({ ok: false, error: (e as Error).message });
    }
  });
}
