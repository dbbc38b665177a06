-- goalkeeper schema, version 1 (SQLite).
-- Times are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; GUIDs are 16-byte blobs.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    prefix      TEXT NOT NULL UNIQUE,
    key_hash    BLOB NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'ingest', 'tracker')),
    origins     TEXT NOT NULL DEFAULT '',
    rate_limit  INTEGER,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE goals (
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    id             INTEGER NOT NULL,
    name           TEXT NOT NULL,
    counting       TEXT NOT NULL DEFAULT 'every' CHECK (counting IN ('every', 'once_per_recipient')),
    window_days    INTEGER,
    default_value  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;

CREATE TABLE messages (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    id          INTEGER NOT NULL,
    name        TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('Email', 'SmsMms', 'WebPush')),
    list        TEXT,
    sent_at     TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE INDEX messages_name ON messages(account_id, name, channel);

-- The MessageGuid registry: one row per message sent to one subscriber.
CREATE TABLE recipients (
    guid           BLOB PRIMARY KEY,
    account_id     INTEGER NOT NULL,
    message_id     INTEGER NOT NULL,
    subscriber_id  TEXT NOT NULL,
    list           TEXT,
    channel        TEXT NOT NULL,
    sent_at        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX recipients_message ON recipients(account_id, message_id);

-- One row per accepted fulfillment: the source of truth for every report.
CREATE TABLE fulfillments (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL,
    goal_id          INTEGER NOT NULL,
    message_guid     BLOB NOT NULL,
    message_id       INTEGER NOT NULL,
    subscriber_id    TEXT NOT NULL,
    channel          TEXT NOT NULL,
    value            INTEGER NOT NULL,
    source           TEXT NOT NULL,
    idempotency_key  TEXT,
    occurred_at      TEXT NOT NULL,
    received_at      TEXT NOT NULL
);
CREATE INDEX fulfillments_account_occurred ON fulfillments(account_id, occurred_at);

-- Idempotency keys bound to the fulfillment they stored (bound for idempotency_hours).
CREATE TABLE idempotency_keys (
    account_id      INTEGER NOT NULL,
    key             TEXT NOT NULL,
    fulfillment_id  INTEGER,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
