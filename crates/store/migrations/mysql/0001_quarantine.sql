-- The quarantine, MariaDB/MySQL dialect (InnoDB, utf8mb4, binary collation so that
-- comparisons match SQLite's). Times are Unix milliseconds (UTC). Every table has a primary
-- key (Galera needs one). Integers are BIGINT and text is VARCHAR: the sqlx `any` driver maps
-- exactly those to i64 and String.
CREATE TABLE messages (
    id            VARCHAR(64)   CHARACTER SET ascii NOT NULL PRIMARY KEY,
    received_at   BIGINT        NOT NULL,
    status        VARCHAR(32)   CHARACTER SET ascii NOT NULL,
    direction     VARCHAR(32)   NOT NULL,
    node          VARCHAR(255)  NOT NULL,
    mail_from     VARCHAR(1000) NOT NULL,
    sender_lc     VARCHAR(320)  NOT NULL,
    body_type     VARCHAR(16),
    smtputf8      BIGINT        NOT NULL,
    dsn_ret       VARCHAR(8),
    dsn_envid     VARCHAR(200),
    peer          VARCHAR(100)  NOT NULL,
    peer_helo     VARCHAR(255)  NOT NULL,
    client_addr   VARCHAR(100),
    client_helo   VARCHAR(255),
    xforward      VARCHAR(2000) NOT NULL,
    hdr_from      VARCHAR(1000),
    hdr_to        VARCHAR(2000),
    subject       VARCHAR(1000),
    hdr_message_id VARCHAR(1000),
    hdr_date      VARCHAR(100),
    size          BIGINT        NOT NULL,
    sha256        VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    action        VARCHAR(32)   NOT NULL,
    reasons       VARCHAR(2000) NOT NULL,
    raw_encoding  VARCHAR(16)   NOT NULL,
    updated_at    BIGINT        NOT NULL,
    KEY messages_time   (received_at, id),
    KEY messages_sender (sender_lc, received_at, id),
    KEY messages_status (status, received_at, id)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE message_facets (
    kind        VARCHAR(16)  CHARACTER SET ascii NOT NULL,
    value       VARCHAR(320) NOT NULL,
    received_at BIGINT       NOT NULL,
    message_id  VARCHAR(64)  CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (kind, value, received_at, message_id),
    KEY message_facets_message (message_id)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE message_blobs (
    message_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
    seq        BIGINT      NOT NULL,
    data       LONGBLOB    NOT NULL,
    PRIMARY KEY (message_id, seq)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC;

CREATE TABLE recipients (
    message_id  VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    seq         BIGINT        NOT NULL,
    address     VARCHAR(1000) NOT NULL,
    address_lc  VARCHAR(320)  NOT NULL,
    notify      VARCHAR(64),
    orcpt       VARCHAR(1000),
    status      VARCHAR(32)   CHARACTER SET ascii NOT NULL,
    claim_owner VARCHAR(64)   CHARACTER SET ascii,
    claimed_at  BIGINT,
    attempts    BIGINT        NOT NULL,
    last_reply  VARCHAR(1000),
    updated_at  BIGINT        NOT NULL,
    PRIMARY KEY (message_id, seq),
    UNIQUE KEY recipients_address (message_id, address_lc),
    KEY recipients_claims (status, claimed_at)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE parts (
    message_id    VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    seq           BIGINT        NOT NULL,
    path          VARCHAR(2000) NOT NULL,
    filename      VARCHAR(1000),
    declared_type VARCHAR(255),
    detected_type VARCHAR(255),
    size          BIGINT        NOT NULL,
    sha256        VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    labels        VARCHAR(1000) NOT NULL,
    unscannable_reason VARCHAR(1000),
    PRIMARY KEY (message_id, seq)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE findings (
    message_id VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    seq        BIGINT        NOT NULL,
    kind       VARCHAR(64)   NOT NULL,
    engine     VARCHAR(64)   NOT NULL,
    name       VARCHAR(1000) NOT NULL,
    part_path  VARCHAR(2000),
    PRIMARY KEY (message_id, seq)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE approvals (
    message_id  VARCHAR(64)  CHARACTER SET ascii NOT NULL,
    approver    VARCHAR(320) NOT NULL,
    approved_at BIGINT       NOT NULL,
    PRIMARY KEY (message_id, approver)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE release_requests (
    message_id   VARCHAR(64)  CHARACTER SET ascii NOT NULL,
    recipient_lc VARCHAR(320) NOT NULL,
    requested_at BIGINT       NOT NULL,
    PRIMARY KEY (message_id, recipient_lc)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE audit_log (
    seq        BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at         BIGINT        NOT NULL,
    actor      VARCHAR(320)  NOT NULL,
    action     VARCHAR(64)   NOT NULL,
    message_id VARCHAR(64)   CHARACTER SET ascii,
    detail     VARCHAR(2000) NOT NULL,
    KEY audit_log_message (message_id, seq)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
