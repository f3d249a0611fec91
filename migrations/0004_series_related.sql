-- A series started inside another series' thread: most often someone else's "v9" sent in
-- reply to a cover letter. It is not a new version of that series (only the same author's
-- can be: a new version supersedes the old one and cancels its check), but the two
-- belong together for whoever reads either. NULL when the series started a thread of its own.
ALTER TABLE series ADD COLUMN related_to INTEGER REFERENCES series(id);
