-- goalkeeper schema, version 2 (PostgreSQL): report counters, kept in the same write
-- transaction as the raw rows and rebuilt from them by `goalkeeper db rebuild-counters`.
-- A bucket is a quarter of an hour in UTC: seconds since 1970-01-01 UTC divided by 900,
-- so days can be cut exactly in any time zone (offsets are whole quarters of an hour).

-- Fulfillments that count under their goal's rules (counting rule, attribution window),
-- per quarter hour of occurred_at; recipients = GUIDs whose first counted fulfillment of
-- this goal falls in the bucket.
CREATE TABLE goal_counters (
    account_id    bigint NOT NULL,
    bucket        bigint NOT NULL,
    goal_id       integer NOT NULL,
    message_id    bigint NOT NULL,
    channel       text NOT NULL,
    fulfillments  bigint NOT NULL,
    value         numeric NOT NULL,
    recipients    bigint NOT NULL,
    PRIMARY KEY (account_id, bucket, goal_id, message_id, channel)
);

-- Per quarter hour and message: registered sends (by sent_at) and converted recipients
-- (GUIDs whose first counted fulfillment of any goal falls in the bucket).
CREATE TABLE message_counters (
    account_id  bigint NOT NULL,
    bucket      bigint NOT NULL,
    message_id  bigint NOT NULL,
    channel     text NOT NULL,
    sends       bigint NOT NULL,
    converted   bigint NOT NULL,
    PRIMARY KEY (account_id, bucket, message_id, channel)
);
CREATE INDEX message_counters_message ON message_counters(account_id, message_id, channel);

-- The earliest counted fulfillment of each goal by each GUID (by occurred_at, then id).
-- A GUID's earliest of any goal, which makes it a converted recipient, is the earliest
-- of its rows here.
CREATE TABLE first_fulfillments (
    guid            uuid NOT NULL,
    goal_id         integer NOT NULL,
    account_id      bigint NOT NULL,
    fulfillment_id  bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    value           bigint NOT NULL,
    PRIMARY KEY (guid, goal_id)
);

-- ExpertSender's Activities lists one day's sends.
CREATE INDEX recipients_sent ON recipients(account_id, sent_at);

-- Secrets shared by every goalkeeper process on this database (the dashboard's
-- session-signing key).
CREATE TABLE secrets (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL
);
