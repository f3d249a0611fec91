-- Indexes for the query side (CLI, HTTP API, web page): the series list is paged newest
-- first, a series' latest run is looked up per row, and maintainers search symbols by
-- their bare name ("cpu_callback") as often as by Xen's full key ("hvm.c#cpu_callback").

-- Paging /api/series by (updated_at, id) with a keyset cursor.
CREATE INDEX series_recent ON series(updated_at DESC, id DESC);

-- "latest version of a series" and "latest run of a version" without a sort.
CREATE INDEX series_versions_lineage ON series_versions(series_id, version, id);
CREATE INDEX runs_version_recent ON runs(version_id, id);

-- Per-toolchain results of one run, and the toolchain filter of the list.
CREATE INDEX builds_run_toolchain ON builds(run_id, phase, toolchain, status);

-- The name after '#' ('cpu_callback' in 'hvm.c#cpu_callback'); globals are their own name.
-- Queries must spell the expression exactly like this for SQLite to use the index.
CREATE INDEX findings_symbol_name ON findings(
  (CASE WHEN instr(symbol, '#') > 0 THEN substr(symbol, instr(symbol, '#') + 1) ELSE symbol END)
);

-- The reply a run produced (replies.run_id is already UNIQUE, hence indexed).
-- Mail-to-reply latency and the weekly stats read runs by finish time.
CREATE INDEX runs_finished ON runs(finished_at);
