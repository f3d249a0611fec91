// Two small inline SVG charts. Inline SVG needs no script and no style-src exception:
// colours are presentation attributes, which the CSP does not restrict.
import type { LatencyPoint, WeekStat } from '../query/types.ts';
import { html, type SafeHtml } from './html.ts';

const COLORS = { pass: '#2e7d32', fail: '#c62828', error: '#757575' } as const;

/** One row of stacked weekly bars (pass / fail / error) per toolchain. */
export function weeklyChart(stats: WeekStat[], weeks: string[]): SafeHtml {
  const toolchains = [...new Set(stats.map((s) => s.toolchain))].sort();
  if (toolchains.length === 0 || weeks.length === 0)
    return html`<p class="empty">No builds in this period.</p>`;
  const rowH = 56;
  const labelW = 90;
  const barW = Math.max(8, Math.floor(480 / weeks.length) - 4);
  const width = labelW + weeks.length * (barW + 4) + 10;
  const height = toolchains.length * rowH + 24;
  const max = Math.max(1, ...stats.map((s) => s.pass + s.fail + s.error));
  const rows = toolchains.map((tc, row) => {
    const base = row * rowH + rowH - 8;
    const bars = weeks.map((week, i) => {
      const s = stats.find((x) => x.toolchain === tc && x.week === week);
      if (!s) return html``;
      const x = labelW + i * (barW + 4);
      let y = base;
      const parts = (['pass', 'fail', 'error'] as const).map((k) => {
        const h = Math.round((s[k] / max) * (rowH - 16));
        y -= h;
        return h > 0
          ? html`<rect x="${x}" y="${y}" width="${barW}" height="${h}" fill="${COLORS[k]}"></rect>`
          : html``;
      });
      return html`<g
        ><title>${tc}, week of ${week}: ${s.pass} pass, ${s.fail} fail, ${s.error} error</title>${parts}</g
      >`;
    });
    return html`<text x="0" y="${base - 4}" font-size="12">${tc}</text>
      <line x1="${labelW}" y1="${base}" x2="${width - 10}" y2="${base}" stroke="#bbb"></line>${bars}`;
  });
  const first = weeks[0] ?? '';
  const last = weeks.at(-1) ?? '';
  return html`<svg
    class="chart"
    role="img"
    aria-label="pass and fail per toolchain per week"
    width="${width}"
    height="${height}"
    viewBox="0 0 ${width} ${height}"
    xmlns="http://www.w3.org/2000/svg"
  >
    ${rows}
    <text x="${labelW}" y="${height - 4}" font-size="11" fill="#555">${first}</text>
    <text x="${width - 10}" y="${height - 4}" font-size="11" fill="#555" text-anchor="end">${last}</text>
  </svg>`;
}

/** Minutes from the first mail to the reply, one dot per answered run, oldest on the left. */
export function latencyChart(points: LatencyPoint[]): SafeHtml {
  if (points.length === 0) return html`<p class="empty">No replies sent in this period.</p>`;
  const w = 560;
  const h = 160;
  const pad = { l: 48, r: 10, t: 10, b: 22 };
  const times = points.map((p) => Date.parse(p.replySentAt));
  const t0 = Math.min(...times);
  const t1 = Math.max(t0 + 1, ...times);
  const maxMin = Math.max(1, ...points.map((p) => p.latencyMs / 60_000));
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (w - pad.l - pad.r);
  const y = (m: number) => h - pad.b - (m / maxMin) * (h - pad.t - pad.b);
  const coords = points.map((p, i) => [x(times[i]!), y(p.latencyMs / 60_000)] as const);
  const line = coords.map(([cx, cy]) => `${cx.toFixed(1)},${cy.toFixed(1)}`).join(' ');
  const dots = points.map((p, i) => {
    const [cx, cy] = coords[i]!;
    const minutes = (p.latencyMs / 60_000).toFixed(1);
    return html`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="3" fill="#1565c0"
      ><title>run ${p.runId}: ${minutes} min, replied ${p.replySentAt}</title></circle
    >`;
  });
  return html`<svg
    class="chart"
    role="img"
    aria-label="mail-to-reply latency"
    width="${w}"
    height="${h}"
    viewBox="0 0 ${w} ${h}"
    xmlns="http://www.w3.org/2000/svg"
  >
    <line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#bbb"></line>
    <line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#bbb"></line>
    <text x="${pad.l - 4}" y="${pad.t + 10}" font-size="11" fill="#555" text-anchor="end">
      ${maxMin.toFixed(1)} min
    </text>
    <text x="${pad.l - 4}" y="${h - pad.b}" font-size="11" fill="#555" text-anchor="end">0</text>
    <text x="${pad.l}" y="${h - 6}" font-size="11" fill="#555">
      ${new Date(t0).toISOString().slice(0, 10)}
    </text>
    <text x="${w - pad.r}" y="${h - 6}" font-size="11" fill="#555" text-anchor="end">
      ${new Date(t1).toISOString().slice(0, 10)}
    </text>
    <polyline points="${line}" fill="none" stroke="#90caf9"></polyline>
    ${dots}
  </svg>`;
}

/** The Monday of each of the last `n` weeks, oldest first, as the stats query names them. */
export function lastWeeks(n: number, now = new Date()): string[] {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  const out: string[] = [];
  for (let i = n - 1; i >= 0; i--)
    out.push(new Date(d.getTime() - i * 7 * 86400_000).toISOString().slice(0, 10));
  return out;
}
