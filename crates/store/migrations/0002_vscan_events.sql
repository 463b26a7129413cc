-- Vscan events: append-mostly, queried by SVM, type and time, trimmed by count and age.
CREATE TABLE vscan_events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    svm  TEXT NOT NULL,
    -- RFC 3339 UTC with fixed-width microseconds, so text order is time order.
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX vscan_events_svm_time ON vscan_events (svm, time);
CREATE INDEX vscan_events_type_time ON vscan_events (type, time);
CREATE INDEX vscan_events_time ON vscan_events (time);
