-- goalkeeper schema, version 5 (PostgreSQL): the buckets that hold sends, per message, so
-- a report grouped by message finds each message's recipients without reading the
-- buckets that hold only conversions.
CREATE INDEX message_counters_sends ON message_counters(account_id, message_id, channel, bucket)
    INCLUDE (sends) WHERE sends <> 0;
