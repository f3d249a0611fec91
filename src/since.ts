/**
 * "--since 7d" / "2w" / "12h" / "2026-11-01": maintainers think in relative spans.
 * Returns an ISO-8601 UTC time, or throws naming the value.
 */
export function parseSince(text: string, now = new Date()): string {
  const rel = /^(\d+)\s*([hdw])$/i.exec(text.trim());
  if (rel) {
    const hours = { h: 1, d: 24, w: 24 * 7 }[rel[2]!.toLowerCase() as 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(rel[1]) * hours * 3600_000).toISOString();
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`since: "${text}" is neither a span like 7d, 2w, 12h nor a date`);
  return new Date(t).toISOString();
}
