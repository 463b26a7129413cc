-- Vscan events: append-mostly, queried by SVM, type and time, trimmed by count and age.
CREATE TABLE vscan_events (
    seq  BIGSERIAL PRIMARY KEY,
    svm  TEXT COLLATE "C" NOT NULL,
    -- RFC 3339 UTC with fixed-width microseconds, so byte order is time order.
    time TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX vscan_events_svm_time ON vscan_events (svm, time);
CREATE INDEX vscan_events_type_time ON vscan_events (type, time);
CREATE INDEX vscan_events_time ON vscan_events (time);
