-- A toolchain's judgement of the series, besides make's outcome: a build that links but
-- introduces a duplicate symbol is a pass for make and a fail for the series. The list's
-- badges and the weekly stats show this one. NULL for baseline builds and older rows.
ALTER TABLE builds ADD COLUMN verdict TEXT;
