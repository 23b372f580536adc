-- Notifications the daemon has still to send (deleted when done): resumed by the same host
-- after a restart.
CREATE TABLE notify_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    owner      TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    concerned  TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notify_outbox_owner ON notify_outbox (owner, seq);
