-- Every configuration object is a JSON document addressed by (kind, id), as on SQLite.
-- Text in the "C" collation, so that order is byte order whatever the server's locale.
CREATE TABLE docs (
    kind TEXT COLLATE "C" NOT NULL,
    id   TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- The cluster's document revision: one row, bumped by every commit under the write lock.
CREATE TABLE doc_revision (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    rev BIGINT NOT NULL
);
INSERT INTO doc_revision (one, rev) VALUES (TRUE, 0);

-- What each revision changed, so that a node that missed notifications reloads only
-- those documents. Trimmed to the newest revisions; a node further behind reloads all.
CREATE TABLE doc_changes (
    rev  BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rev, kind, id)
);
