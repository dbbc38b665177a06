-- Requests per API key per one-second window, added up across processes.
CREATE UNLOGGED TABLE rate_counters (
    key_id  bigint NOT NULL,
    second bigint NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (key_id, second)
);
