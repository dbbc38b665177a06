-- goalkeeper schema, version 2 (SQLite): report counters, kept in the same write
-- transaction as the raw rows and rebuilt from them by `goalkeeper db rebuild-counters`.
-- A bucket is a quarter of an hour in UTC: seconds since 1970-01-01 UTC divided by 900,
-- so days can be cut exactly in any time zone (offsets are whole quarters of an hour).

-- Fulfillments that count under their goal's rules (counting rule, attribution window),
-- per quarter hour of occurred_at; recipients = GUIDs whose first counted fulfillment of
-- this goal falls in the bucket.
CREATE TABLE goal_counters (
    account_id    INTEGER NOT NULL,
    bucket        INTEGER NOT NULL,
    goal_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    channel       TEXT NOT NULL,
    fulfillments  INTEGER NOT NULL,
    value         INTEGER NOT NULL,
    recipients    INTEGER NOT NULL,
    PRIMARY KEY (account_id, bucket, goal_id, message_id, channel)
) WITHOUT ROWID;

-- Per quarter hour and message: registered sends (by sent_at) and converted recipients
-- (GUIDs whose first counted fulfillment of any goal falls in the bucket).
CREATE TABLE message_counters (
    account_id  INTEGER NOT NULL,
    bucket      INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    sends       INTEGER NOT NULL,
    converted   INTEGER NOT NULL,
    PRIMARY KEY (account_id, bucket, message_id, channel)
) WITHOUT ROWID;
CREATE INDEX message_counters_message ON message_counters(account_id, message_id, channel);

-- The earliest counted fulfillment of each goal by each GUID (by occurred_at, then id).
-- A GUID's earliest of any goal, which makes it a converted recipient, is the earliest
-- of its rows here.
CREATE TABLE first_fulfillments (
    guid            BLOB NOT NULL,
    goal_id         INTEGER NOT NULL,
    account_id      INTEGER NOT NULL,
    fulfillment_id  INTEGER NOT NULL,
    occurred_at     TEXT NOT NULL,
    value           INTEGER NOT NULL,
    PRIMARY KEY (guid, goal_id)
) WITHOUT ROWID;

-- ExpertSender's Activities lists one day's sends.
CREATE INDEX recipients_sent ON recipients(account_id, sent_at);

-- Secrets shared by every goalkeeper process on this database (the dashboard's
-- session-signing key).
CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
