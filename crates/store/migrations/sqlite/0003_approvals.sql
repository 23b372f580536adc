-- The approvals a release needs, fixed when the message is held (the daemon's rules then);
-- NULL for messages held before this column existed (the workflow falls back to the rules
-- of whoever runs it). Notification runs are also found by message (removed when done).
ALTER TABLE messages ADD COLUMN approvals_required INTEGER;
CREATE INDEX notify_outbox_message ON notify_outbox (message_id, owner);
