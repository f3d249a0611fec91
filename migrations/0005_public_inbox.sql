-- Where listci stands in each epoch (git/N.git) of a public-inbox archive: the last commit
-- whose mail it stored. Written in the transaction that stores the mail, so a crash neither
-- loses a mail (the commit is walked again) nor doubles one.
CREATE TABLE public_inbox_epochs (
  inbox       TEXT NOT NULL,    -- the source's URL or path, as configured
  epoch       INTEGER NOT NULL,
  last_commit TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (inbox, epoch)
);
