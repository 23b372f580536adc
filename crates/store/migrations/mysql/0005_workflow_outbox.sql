-- Workflow steps (request-release, approve, release, delete) queue their notification here
-- unowned (owner ''): a running daemon claims and sends it. The step's facts travel with it:
-- who acted, the approvals at that moment, and the original's header block when the content
-- is gone (delete), for the loop and list rules.
ALTER TABLE notify_outbox
    ADD COLUMN actor VARCHAR(255) NULL,
    ADD COLUMN approvals_have INT NULL,
    ADD COLUMN approvals_needed INT NULL,
    ADD COLUMN headers MEDIUMBLOB NULL;
