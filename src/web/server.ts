import { dirname } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { openDb, type Database } from '../db/open.ts';
import { silentLogger, type Logger } from '../log.ts';
import { listSeries } from '../query/series-list.ts';
import { getRun } from '../query/run-detail.ts';
import { getSeries } from '../query/series-detail.ts';
import { replyLatency, weeklyStats } from '../query/stats.ts';
import type { SeriesFilters } from '../query/types.ts';
import { BadRequest, registerApi, sinceParam } from './api.ts';
import { lastWeeks } from './charts.ts';
import {
  PAGE_CSP,
  PAGE_CSS,
  renderListPage,
  renderNotFound,
  renderRunPage,
  renderSeriesPage,
} from './page.ts';
import { recentToolchains } from '../db/builds.ts';

export interface WebAppOptions {
  db: Database;
  /** Build logs are served only from under this directory. */
  workDir: string;
  log?: Logger;
}

/** The fastify app over an open (read-only) database; tests drive it with inject(). */
export function createWebApp(opts: WebAppOptions): FastifyInstance {
  const { db, workDir } = opts;
  const app = Fastify({
    loggerInstance: (opts.log ?? silentLogger).child({ component: 'web' }),
    // Per-request lines would drown the daemon's log; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('Content-Security-Policy', PAGE_CSP);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    return payload;
  });

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number }, _req, reply) => {
    if (err instanceof BadRequest || err.validation || /^cursor: /.test(err.message)) {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: err.message });
    }
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send(err);
    app.log.error({ err }, 'web: request failed');
    return reply
      .code(500)
      .send({ statusCode: 500, error: 'Internal Server Error', message: 'see the server log' });
  });

  registerApi(app, db, workDir);

  app.get('/static/listci.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('Cache-Control', 'max-age=300').send(PAGE_CSS),
  );

  app.get<{ Querystring: Record<string, string | undefined> }>('/', async (req, reply) => {
    // The form sends empty fields for "any": drop them before they become filters.
    const q = Object.fromEntries(
      Object.entries(req.query).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''),
    );
    const verdict =
      q.verdict === 'pass' || q.verdict === 'fail' || q.verdict === 'error' ? q.verdict : undefined;
    const filters: SeriesFilters = {
      author: q.author,
      subject: q.subject,
      list: q.list,
      verdict,
      toolchain: q.toolchain,
      since: sinceParam(q.since),
    };
    const page = listSeries(db, filters, { limit: 50, cursor: q.cursor ?? null });
    const weeks = lastWeeks(12);
    const since = `${weeks[0]}T00:00:00.000Z`;
    const toolchains = recentToolchains(db);
    const { cursor: _cursor, ...keep } = q;
    return reply.type('text/html; charset=utf-8').send(
      renderListPage({
        filters,
        page,
        toolchains,
        weeks,
        stats: weeklyStats(db, since),
        latency: replyLatency(db, since),
        query: keep,
      }),
    );
  });

  app.get<{ Params: { key: string } }>('/series/:key', async (req, reply) => {
    const s = getSeries(db, req.params.key);
    reply.type('text/html; charset=utf-8');
    if (!s)
      return reply.code(404).send(renderNotFound(`No series has the id or Message-ID ${req.params.key}.`));
    return reply.send(renderSeriesPage(s));
  });

  // Every reply links here (report/render.ts runUrl).
  app.get<{ Params: { id: string } }>('/runs/:id', async (req, reply) => {
    reply.type('text/html; charset=utf-8');
    const id = /^[1-9]\d{0,14}$/.test(req.params.id) ? Number(req.params.id) : null;
    const r = id === null ? null : getRun(db, id);
    if (!r) return reply.code(404).send(renderNotFound(`No run has the id ${req.params.id}.`));
    return reply.send(renderRunPage(r));
  });

  return app;
}

export interface StartWebOptions {
  dbPath: string;
  host: string;
  port: number; // 0 picks a free port
  log?: Logger;
  /** Defaults to the database's directory (config: workDir holds both by default). */
  workDir?: string;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

/** Opens the database read-only and serves the API and the page until close(). */
export async function startWebServer(opts: StartWebOptions): Promise<WebServer> {
  const db = openDb(opts.dbPath, { readonly: true });
  const app = createWebApp({ db, workDir: opts.workDir ?? dirname(opts.dbPath), log: opts.log });
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    db.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  opts.log?.info({ url: `http://${host}:${port}` }, 'web: listening');
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      await app.close();
      db.close();
    },
  };
}
