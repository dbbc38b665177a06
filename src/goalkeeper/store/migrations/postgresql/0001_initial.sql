-- goalkeeper schema, version 1 (PostgreSQL).
CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts(id),
    prefix      text NOT NULL UNIQUE,
    key_hash    bytea NOT NULL UNIQUE,
    scope       text NOT NULL CHECK (scope IN ('admin', 'ingest', 'tracker')),
    origins     text NOT NULL DEFAULT '',
    rate_limit  integer,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE goals (
    account_id     bigint NOT NULL REFERENCES accounts(id),
    id             integer NOT NULL,
    name           text NOT NULL,
    counting       text NOT NULL DEFAULT 'every' CHECK (counting IN ('every', 'once_per_recipient')),
    window_days    integer,
    default_value  bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE messages (
    account_id  bigint NOT NULL REFERENCES accounts(id),
    id          bigint NOT NULL,
    name        text NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('Email', 'SmsMms', 'WebPush')),
    list        text,
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX messages_name ON messages(account_id, name, channel);

CREATE TABLE recipients (
    guid           uuid PRIMARY KEY,
    account_id     bigint NOT NULL,
    message_id     bigint NOT NULL,
    subscriber_id  text NOT NULL,
    list           text,
    channel        text NOT NULL,
    sent_at        timestamptz NOT NULL
);
CREATE INDEX recipients_message ON recipients(account_id, message_id);

CREATE SEQUENCE fulfillments_id_seq;
CREATE TABLE fulfillments (
    account_id       bigint NOT NULL,
    id               bigint NOT NULL DEFAULT nextval('fulfillments_id_seq'),
    goal_id          integer NOT NULL,
    message_guid     uuid NOT NULL,
    message_id       bigint NOT NULL,
    subscriber_id    text NOT NULL,
    channel          text NOT NULL,
    value            bigint NOT NULL,
    source           text NOT NULL,
    idempotency_key  text,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
ALTER SEQUENCE fulfillments_id_seq OWNED BY fulfillments.id;
CREATE INDEX fulfillments_account_occurred ON fulfillments(account_id, occurred_at);

CREATE TABLE idempotency_keys (
    account_id      bigint NOT NULL,
    key             text NOT NULL,
    fulfillment_id  bigint,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
