-- Notifications the daemon has still to send (deleted when done): resumed by the same host
-- after a restart.
CREATE TABLE notify_outbox (
    seq        BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner      VARCHAR(255)  NOT NULL,
    message_id VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    event      VARCHAR(32)   NOT NULL,
    concerned  TEXT          NOT NULL,
    created_at BIGINT        NOT NULL,
    KEY notify_outbox_owner (owner, seq)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
