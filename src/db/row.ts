// SQLite hands rows back as objects of unknown shape. The table modules read each column
// through these checks, once, where the row is read: a renamed column or a state nobody
// knows fails loudly at the query that broke, instead of travelling on as `undefined`.

export type Raw = Readonly<Record<string, unknown>>;

export class RowError extends Error {
  override name = 'RowError';
}

export function raw(row: unknown, what: string): Raw {
  if (typeof row !== 'object' || row === null) throw new RowError(`${what}: no row`);
  return row as Raw;
}

/** `undefined` (no row) becomes null; anything else goes through the mapper. */
export function maybe<T>(row: unknown, map: (r: unknown) => T): T | null {
  return row === undefined ? null : map(row);
}

function bad(r: Raw, col: string, want: string): RowError {
  const v = r[col];
  return new RowError(`column ${col}: expected ${want}, got ${v === null ? 'null' : typeof v}`);
}

export function int(r: Raw, col: string): number {
  const v = r[col];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  throw bad(r, col, 'an integer');
}

export function intOrNull(r: Raw, col: string): number | null {
  return r[col] === null ? null : int(r, col);
}

/** Sums and time differences: any number; SQL's sum() over no rows is null. */
export function numOrNull(r: Raw, col: string): number | null {
  const v = r[col];
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw bad(r, col, 'a number');
}

export function text(r: Raw, col: string): string {
  const v = r[col];
  if (typeof v === 'string') return v;
  throw bad(r, col, 'text');
}

export function textOrNull(r: Raw, col: string): string | null {
  return r[col] === null ? null : text(r, col);
}

export function blob(r: Raw, col: string): Buffer {
  const v = r[col];
  if (Buffer.isBuffer(v)) return v;
  // A mail inserted as text by hand (sqlite3 shell) still reads.
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw bad(r, col, 'a blob');
}

export function flag(r: Raw, col: string): boolean {
  return int(r, col) !== 0;
}

export function oneOf<T extends string>(r: Raw, col: string, allowed: readonly T[]): T {
  const v = text(r, col);
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new RowError(`column ${col}: "${v}" is none of ${allowed.join(', ')}`);
}

export function oneOfOrNull<T extends string>(r: Raw, col: string, allowed: readonly T[]): T | null {
  return r[col] === null ? null : oneOf(r, col, allowed);
}

/** A single-column result (`SELECT id …`): the column's integer. */
export const intColumn =
  (col: string) =>
  (row: unknown): number =>
    int(raw(row, col), col);

/** A JSON array column; a damaged one reads as empty rather than failing the whole page. */
export const parseJsonArray = <T>(text: string | null): T[] => {
  if (!text) return [];
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return [];
  }
};
