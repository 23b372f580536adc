-- The stored copy of a rejected message has its own status, `rejected`, for the message and
-- its recipients, so the normal release path never treats it as held. Copies stored before
-- (action `reject`, still held or waiting for release) get it now.
UPDATE recipients SET status = 'rejected'
 WHERE status = 'held'
   AND message_id IN (SELECT id FROM messages WHERE action = 'reject'
                      AND status IN ('held', 'release-requested', 'approved'));
UPDATE messages SET status = 'rejected'
 WHERE action = 'reject' AND status IN ('held', 'release-requested', 'approved');
