// The one web page: server-rendered HTML, no script at all. The list with filters is a
// GET form, the detail view is a link; charts are inline SVG.
import type {
  LatencyPoint,
  Page,
  RunDetail,
  SeriesDetail,
  SeriesFilters,
  SeriesListItem,
  WeekStat,
} from '../query/types.ts';
import { latencyChart, weeklyChart } from './charts.ts';
import { html, type SafeHtml } from './html.ts';
import { baseLine, failedPatchWords } from '../result-words.ts';

/** No script, no inline style, no framing, forms only to ourselves. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export const PAGE_CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 16px 40px; color: #222; }
header { display: flex; align-items: baseline; gap: 16px; border-bottom: 1px solid #ddd; }
header h1 { font-size: 20px; margin: 12px 0; } header h1 a { color: inherit; text-decoration: none; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 12px 0; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
form.filters input, form.filters select { font: inherit; padding: 3px 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { font-size: 12px; color: #555; font-weight: 600; }
td.title { overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 12px; margin: 1px 2px; color: #fff; white-space: nowrap; }
.badge.pass { background: #2e7d32; } .badge.fail, .badge.timeout { background: #c62828; }
.badge.error, .badge.skipped { background: #757575; } .badge.none { background: #bdbdbd; }
.muted { color: #666; } .empty { color: #666; font-style: italic; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; }
section.version { border: 1px solid #ddd; border-radius: 6px; padding: 4px 14px 12px; margin: 14px 0; }
section.run { border-top: 1px dashed #ccc; margin-top: 10px; }
details.reply { margin-top: 10px; } details.reply summary { cursor: pointer; }
ul.dups li { font-family: ui-monospace, monospace; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; margin-top: 24px; }
.charts h2 { font-size: 15px; }
nav.pager { margin: 12px 0; }
code { font-family: ui-monospace, monospace; }
`;

const VERDICTS = ['pass', 'fail', 'error'] as const;

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <link rel="stylesheet" href="/static/listci.css" />
      </head>
      <body>
        <header>
          <h1><a href="/">listci</a></h1>
          <span class="muted">patch series checked for duplicate symbols under live patching</span>
        </header>
        ${body}
      </body>
    </html>`.value;
}

const when = (iso: string | null): string => (iso ? iso.replace('T', ' ').slice(0, 16) + ' UTC' : '-');

function badge(status: string, label: string, title?: string): SafeHtml {
  return html`<span class="badge ${status}" title="${title ?? status}">${label}</span>`;
}

function seriesRow(s: SeriesListItem): SafeHtml {
  const badges = s.toolchains.length
    ? s.toolchains.map((t) =>
        badge(
          t.verdict,
          `${t.toolchain} ${t.verdict}${t.newDuplicates ? ` (${t.newDuplicates} new dup)` : ''}`,
          `${t.toolchain}: ${t.verdict} (build ${t.status})`,
        ),
      )
    : s.latestRun
      ? badge(s.latestRun.verdict ?? 'none', 'not built', s.latestRun.summary ?? undefined)
      : badge('none', 'not checked');
  return html`<tr class="series" data-verdict="${s.latestRun?.verdict ?? ''}">
    <td class="title"><a href="/series/${s.id}">${s.title}</a></td>
    <td class="author">${s.author}</td>
    <td>v${s.latestVersion}</td>
    <td class="verdict">${s.latestRun?.verdict ? badge(s.latestRun.verdict, s.latestRun.verdict) : '-'}</td>
    <td class="toolchains">${badges}</td>
    <td class="muted">${when(s.updatedAt)}</td>
  </tr>`;
}

export interface ListPageData {
  filters: SeriesFilters;
  page: Page<SeriesListItem>;
  toolchains: string[];
  weeks: string[];
  stats: WeekStat[];
  latency: LatencyPoint[];
  query: Record<string, string>;
}

export function renderListPage(d: ListPageData): string {
  const f = d.filters;
  const next = d.page.nextCursor
    ? `/?${new URLSearchParams({ ...d.query, cursor: d.page.nextCursor }).toString()}`
    : null;
  const body = html`<form class="filters" method="get" action="/">
      <label>author <input name="author" value="${f.author ?? ''}" placeholder="name or address" /></label>
      <label
        >text <input name="subject" value="${f.subject ?? ''}" placeholder="words in the subject"
      /></label>
      <label
        >verdict
        <select name="verdict">
          <option value="">any</option>
          ${VERDICTS.map(
            (v) => html`<option value="${v}" ${f.verdict === v ? html` selected` : ''}>${v}</option>`,
          )}
        </select></label
      >
      <label
        >toolchain
        <select name="toolchain">
          <option value="">any</option>
          ${d.toolchains.map(
            (t) => html`<option value="${t}" ${f.toolchain === t ? html` selected` : ''}>${t}</option>`,
          )}
        </select></label
      >
      <button type="submit">Filter</button> <a href="/">clear</a>
    </form>
    <table id="series">
      <thead>
        <tr>
          <th>series</th>
          <th>author</th>
          <th>version</th>
          <th>verdict</th>
          <th>per toolchain</th>
          <th>updated</th>
        </tr>
      </thead>
      <tbody>
        ${
          d.page.items.length
            ? d.page.items.map(seriesRow)
            : html`<tr>
                <td colspan="6" class="empty">No series match.</td>
              </tr>`
        }
      </tbody>
    </table>
    <nav class="pager">${next ? html`<a rel="next" href="${next}">older series →</a>` : ''}</nav>
    <div class="charts">
      <div>
        <h2>Series builds per toolchain per week</h2>
        ${weeklyChart(d.stats, d.weeks)}
        <p class="muted">${badge('pass', 'pass')} ${badge('fail', 'fail')} ${badge('error', 'bot error')}</p>
      </div>
      <div>
        <h2>Mail to reply, minutes</h2>
        ${latencyChart(d.latency)}
      </div>
    </div>`;
  return layout('listci: series', body);
}

function runSection(r: RunDetail): SafeHtml {
  const newDups = r.builds.flatMap((b) =>
    b.findings.filter((f) => f.kind === 'duplicate-symbol' && f.status === 'new').map((f) => ({ f, b })),
  );
  const apply = r.apply;
  return html`<section class="run" id="run-${r.id}">
    <h4>
      Run ${r.id} ${r.verdict ? badge(r.verdict, r.verdict) : badge('none', r.state)}
      <span class="muted">${when(r.timestamps.finished)}</span>
    </h4>
    <p>${r.summary ?? ''}</p>
    <p><b>Base:</b> ${baseLine(r.base)}</p>
    ${
      r.base.steps.length
        ? html`<ul class="muted">
            ${r.base.steps.map((s) => html`<li>${s.rule}: ${s.outcome} — ${s.detail}</li>`)}
          </ul>`
        : ''
    }
    ${
      apply && !apply.ok
        ? html`<p>
              <b>Apply failed</b> at ${failedPatchWords(apply)} (${apply.applied} of ${apply.total}
              applied${apply.skipped ? `, ${apply.skipped} not tried` : ''})
            </p>
            ${apply.error ? html`<pre>${apply.error}</pre>` : ''}${apply.mangled ? html`<p>${apply.mangled}</p>` : ''}`
        : ''
    }
    ${
      newDups.length
        ? html`<p><b>New duplicate symbols</b></p>
            <ul class="dups">
              ${newDups.map(
                ({ f, b }) =>
                  html`<li>
                    <span class="symbol">${f.symbol}</span> under ${b.toolchain} — ${f.objects.join(', ')}
                  </li>`,
              )}
            </ul>`
        : ''
    }
    ${
      r.builds.length
        ? html`<table class="builds">
            <thead>
              <tr>
                <th>toolchain</th>
                <th>phase</th>
                <th>status</th>
                <th>duration</th>
                <th>new duplicates</th>
                <th>pre-existing duplicates</th>
                <th>log</th>
              </tr>
            </thead>
            <tbody>
              ${r.builds.map(
                (b) =>
                  html`<tr>
                      <td>${b.toolchain}</td>
                      <td>${b.phase}</td>
                      <td>
                        ${badge(b.status, b.status)}${b.botError ? html` <span class="muted">${b.botError}</span>` : ''}
                      </td>
                      <td>
                        ${b.durationMs !== null ? `${(b.durationMs / 1000).toFixed(0)} s` : '-'}${b.cached ? ' (cached)' : ''}
                      </td>
                      <td>
                        ${b.findings.filter((f) => f.kind === 'duplicate-symbol' && f.status === 'new').length}
                      </td>
                      <td>
                        ${b.findings
                          .filter((f) => f.kind === 'duplicate-symbol' && f.status === 'preexisting')
                          .map((f) => html`<code>${f.symbol}</code> `)}
                      </td>
                      <td>${b.hasLog ? html`<a href="/api/builds/${b.id}/log">log</a>` : '-'}</td>
                    </tr>
                    ${b.excerpts.map(
                      (e) =>
                        html`<tr>
                          <td></td>
                          <td colspan="6"><pre>${e}</pre></td>
                        </tr>`,
                    )}`,
              )}
            </tbody>
          </table>`
        : ''
    }
    ${
      r.reply
        ? html`<details class="reply" open>
            <summary>
              Reply ${r.reply.state}${r.reply.sentAt ? ` ${when(r.reply.sentAt)}` : ''}: ${r.reply.subject}
            </summary>
            ${r.reply.reason ? html`<p class="muted">${r.reply.reason}</p>` : ''}
            <pre>${r.reply.body}</pre>
          </details>`
        : html`<p class="muted">No reply recorded.</p>`
    }
  </section>`;
}

export function renderSeriesPage(s: SeriesDetail): string {
  const versions = [...s.versions].reverse();
  const body = html`<h2 class="series-title">${s.title}</h2>
    <p>
      by <span class="author">${s.author}</span> on ${s.list} · ${s.versions.length}
      version${s.versions.length === 1 ? '' : 's'} · <a href="/api/series/${s.id}">JSON</a>
    </p>
    ${versions.map(
      (v) =>
        html`<section class="version" id="v${v.version}">
          <h3>
            v${v.version}${v.resend ? ' (RESEND)' : ''}
            <span class="muted">${v.state}, ${when(v.firstSeenAt)}</span>
          </h3>
          <p class="muted">${v.subject} — <code>&lt;${v.headMessageId}&gt;</code></p>
          <ol>
            ${v.patches.map((p) => html`<li value="${p.number}">${p.subject}</li>`)}
          </ol>
          ${v.missing.length ? html`<p>Missing patches: ${v.missing.join(', ')}</p>` : ''}
          ${v.runs.length ? v.runs.map(runSection) : html`<p class="empty">Not checked yet.</p>`}
        </section>`,
    )}`;
  return layout(`listci: ${s.title}`, body);
}

/**
 * One run: the page every reply links to (`${webUrl}/runs/${id}`, also its Closes: tag), so
 * it names the run alone, whichever versions and runs its series has gathered since.
 */
export function renderRunPage(r: RunDetail): string {
  const title = r.result?.series.title ?? `run ${r.id}`;
  const series = `the series${r.version !== null ? `, v${r.version}` : ''}`;
  const body = html`<h2 class="series-title">${title}</h2>
    <p>
      ${r.seriesId !== null ? html`<a href="/series/${r.seriesId}#run-${r.id}">${series}</a> ·` : ''}
      <a href="/api/runs/${r.id}">JSON</a>
    </p>
    ${runSection(r)}`;
  return layout(`listci: run ${r.id}: ${title}`, body);
}

export function renderNotFound(what: string): string {
  return layout(
    'listci: not found',
    html`<p class="empty">${what}</p>
      <p><a href="/">back to the list</a></p>`,
  );
}
