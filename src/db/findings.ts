import type { Database } from 'better-sqlite3';
import type { BuildError, BuildReport, FindingStatus, Verdict } from '../contract.ts';
import { BUILD_PHASES, VERDICTS, type BuildPhase } from './builds.ts';
import { int, intOrNull, oneOf, oneOfOrNull, raw, text, textOrNull, type Raw } from './row.ts';
import { TOOLCHAIN_MATCH, toolchainParams } from './sql.ts';
import { stmt } from './stmt.ts';

// What a build found, one row per finding, so maintainers can search across runs ("who
// ever introduced X?"). The run's result_json stays the source of truth for the run itself.

export const FINDING_KINDS = [
  'duplicate-symbol',
  'file-collision',
  'compiler-error',
  'compiler-warning',
  'linker',
  'kconfig',
  'make',
  'duplicate-check',
] as const satisfies readonly ('duplicate-symbol' | 'file-collision' | BuildError['kind'])[];
export type FindingKind = (typeof FINDING_KINDS)[number];
export const FINDING_STATUSES = ['new', 'preexisting'] as const satisfies readonly FindingStatus[];

export interface FindingDbRow {
  id: number;
  build_id: number;
  run_id: number;
  kind: FindingKind;
  status: FindingStatus;
  symbol: string | null;
  /** JSON array of object files. */
  objects: string;
  file: string | null;
  line: number | null;
  message: string;
}

export function toFindingRow(row: unknown): FindingDbRow {
  const r = raw(row, 'findings');
  return {
    id: int(r, 'id'),
    build_id: int(r, 'build_id'),
    run_id: int(r, 'run_id'),
    kind: oneOf(r, 'kind', FINDING_KINDS),
    status: oneOf(r, 'status', FINDING_STATUSES),
    symbol: textOrNull(r, 'symbol'),
    objects: text(r, 'objects'),
    file: textOrNull(r, 'file'),
    line: intOrNull(r, 'line'),
    message: text(r, 'message'),
  };
}

/** One row per duplicate, file-name collision and error of a build. */
export function insertFindings(db: Database, runId: number, buildId: number, b: BuildReport): void {
  const insert = stmt(
    db,
    `INSERT INTO findings (build_id, run_id, kind, status, symbol, objects, file, line, message)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const d of [...b.duplicates.new, ...b.duplicates.preexisting]) {
    // The same words as Xen's tools/symbols, so a search for its output finds the row.
    const message = `Duplicate symbol '${d.key}' (${d.addresses.join(' != ')})`;
    insert.run(
      buildId,
      runId,
      'duplicate-symbol',
      d.status,
      d.key,
      JSON.stringify(d.objects),
      null,
      null,
      message,
    );
  }
  for (const c of b.fileCollisions) {
    const message = `file name '${c.file}' names ${c.objects.length} objects: ${c.objects.join(', ')}`;
    insert.run(
      buildId,
      runId,
      'file-collision',
      c.status,
      null,
      JSON.stringify(c.objects),
      c.file,
      null,
      message,
    );
  }
  for (const e of b.errors)
    insert.run(buildId, runId, e.kind, e.status, null, '[]', e.file, e.line, e.message);
}

/** A retried job must not double its findings. */
export function deleteFindingsOfRun(db: Database, runId: number): void {
  stmt(db, 'DELETE FROM findings WHERE run_id = ?').run(runId);
}

export function findingsOfRun(db: Database, runId: number): FindingDbRow[] {
  return stmt(db, 'SELECT * FROM findings WHERE run_id = ? ORDER BY status, kind, symbol, id')
    .all(runId)
    .map(toFindingRow);
}

export function newDuplicatesOfBuild(db: Database, runId: number, buildId: number): number {
  const row = stmt(
    db,
    `SELECT count(*) AS n FROM findings
      WHERE run_id = ? AND build_id = ? AND kind = 'duplicate-symbol' AND status = 'new'`,
  ).get(runId, buildId);
  return int(raw(row, 'findings'), 'n');
}

/** Must match the expression of index findings_symbol_name (migration 0002) character for character. */
const SYMBOL_NAME = `(CASE WHEN instr(symbol, '#') > 0 THEN substr(symbol, instr(symbol, '#') + 1) ELSE symbol END)`;

/**
 * How a maintainer's symbol is matched: Xen's key exactly, the bare name in any file
 * (and the global of that name), or a glob over the key.
 */
export type SymbolMatch = 'key' | 'name' | 'glob';

export interface FindingSearch {
  symbol?: { match: SymbolMatch; value: string };
  newOnly?: boolean;
  kind?: string;
  toolchain?: string;
  since?: string;
  /** Only findings with a smaller id (the keyset cursor). */
  beforeId?: number;
  limit: number;
  offset: number;
}

/** A finding with its build, run and series around it, as the search lists it. */
export interface FindingSearchRow extends FindingDbRow {
  toolchain: string;
  phase: BuildPhase;
  verdict: Verdict | null;
  finished_at: string | null;
  version: number | null;
  series_id: number | null;
  title: string | null;
  author_name: string | null;
  author_addr: string | null;
}

function toSearchRow(row: unknown): FindingSearchRow {
  const r: Raw = raw(row, 'findings');
  return {
    ...toFindingRow(r),
    toolchain: text(r, 'toolchain'),
    phase: oneOf(r, 'phase', BUILD_PHASES),
    verdict: oneOfOrNull(r, 'verdict', VERDICTS),
    finished_at: textOrNull(r, 'finished_at'),
    version: intOrNull(r, 'version'),
    series_id: intOrNull(r, 'series_id'),
    title: textOrNull(r, 'title'),
    author_name: textOrNull(r, 'author_name'),
    author_addr: textOrNull(r, 'author_addr'),
  };
}

const SYMBOL_CONDITION: Record<SymbolMatch, string> = {
  glob: 'f.symbol GLOB @symbol',
  key: 'f.symbol = @symbol',
  name: `${SYMBOL_NAME.replaceAll('symbol', 'f.symbol')} = @symbol`,
};

/** Findings across all runs, newest first. */
export function searchFindings(db: Database, q: FindingSearch): FindingSearchRow[] {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (q.symbol) {
    where.push(SYMBOL_CONDITION[q.symbol.match]);
    params.symbol = q.symbol.value;
  }
  if (q.newOnly) where.push(`f.status = 'new'`);
  if (q.kind) {
    where.push('f.kind = @kind');
    params.kind = q.kind;
  }
  if (q.toolchain) {
    where.push(TOOLCHAIN_MATCH);
    Object.assign(params, toolchainParams(q.toolchain));
  }
  if (q.since) {
    where.push('r.finished_at >= @since');
    params.since = q.since;
  }
  if (q.beforeId !== undefined) {
    where.push('f.id < @cursorId');
    params.cursorId = q.beforeId;
  }
  return stmt(
    db,
    `SELECT f.*, b.toolchain, b.phase, r.verdict, r.finished_at, v.version, s.id AS series_id, s.title,
         s.author_name, s.author_addr
       FROM findings f
       JOIN builds b ON b.id = f.build_id
       JOIN runs r ON r.id = f.run_id
       LEFT JOIN series_versions v ON v.id = r.version_id
       LEFT JOIN series s ON s.id = v.series_id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY f.id DESC LIMIT @lim OFFSET @off`,
  )
    .all({ ...params, lim: q.limit, off: q.offset })
    .map(toSearchRow);
}
