-- The quarantine, SQLite dialect. Times are Unix milliseconds (UTC).
CREATE TABLE messages (
    id            TEXT    NOT NULL PRIMARY KEY,
    received_at   INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    direction     TEXT    NOT NULL,
    node          TEXT    NOT NULL,
    mail_from     TEXT    NOT NULL,
    sender_lc     TEXT    NOT NULL,
    body_type     TEXT,
    smtputf8      INTEGER NOT NULL,
    dsn_ret       TEXT,
    dsn_envid     TEXT,
    peer          TEXT    NOT NULL,
    peer_helo     TEXT    NOT NULL,
    client_addr   TEXT,
    client_helo   TEXT,
    xforward      TEXT    NOT NULL,
    hdr_from      TEXT,
    hdr_to        TEXT,
    subject       TEXT,
    hdr_message_id TEXT,
    hdr_date      TEXT,
    size          INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    reasons       TEXT    NOT NULL,
    raw_encoding  TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX messages_time   ON messages (received_at, id);
CREATE INDEX messages_sender ON messages (sender_lc, received_at, id);
CREATE INDEX messages_status ON messages (status, received_at, id);

-- What `list` filters on besides sender and status: kind = rcpt | domain | reason.
CREATE TABLE message_facets (
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    message_id  TEXT    NOT NULL,
    PRIMARY KEY (kind, value, received_at, message_id)
) WITHOUT ROWID;
CREATE INDEX message_facets_message ON message_facets (message_id);

CREATE TABLE message_blobs (
    message_id TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE recipients (
    message_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    address     TEXT    NOT NULL,
    address_lc  TEXT    NOT NULL,
    notify      TEXT,
    orcpt       TEXT,
    status      TEXT    NOT NULL,
    claim_owner TEXT,
    claimed_at  INTEGER,
    attempts    INTEGER NOT NULL,
    last_reply  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (message_id, seq)
);
CREATE UNIQUE INDEX recipients_address ON recipients (message_id, address_lc);
CREATE INDEX recipients_claims ON recipients (status, claimed_at);

CREATE TABLE parts (
    message_id    TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    path          TEXT    NOT NULL,
    filename      TEXT,
    declared_type TEXT,
    detected_type TEXT,
    size          INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    labels        TEXT    NOT NULL,
    unscannable_reason TEXT,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE findings (
    message_id TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    engine     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    part_path  TEXT,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE approvals (
    message_id  TEXT    NOT NULL,
    approver    TEXT    NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, approver)
);

CREATE TABLE release_requests (
    message_id   TEXT    NOT NULL,
    recipient_lc TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, recipient_lc)
);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    message_id TEXT,
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_log_message ON audit_log (message_id, seq);
