-- Every configuration object is a JSON document addressed by (kind, id). Kept in SQL that
-- both SQLite and PostgreSQL accept so that the cluster backend can share migrations.
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
