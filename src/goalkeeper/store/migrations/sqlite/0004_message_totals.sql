-- goalkeeper schema, version 4 (SQLite): counted fulfillments and value per message and
-- quarter hour, summed over goals, so a report not grouped by goal reads one small table.
ALTER TABLE message_counters ADD COLUMN fulfillments INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message_counters ADD COLUMN value INTEGER NOT NULL DEFAULT 0;
INSERT INTO message_counters (account_id, bucket, message_id, channel, sends, converted,
    fulfillments, value)
SELECT account_id, bucket, message_id, channel, 0, 0, sum(fulfillments), sum(value)
FROM goal_counters WHERE true GROUP BY account_id, bucket, message_id, channel
ON CONFLICT (account_id, bucket, message_id, channel) DO UPDATE SET
    fulfillments = excluded.fulfillments, value = excluded.value;
