-- Requests per API key per one-second window, added up across processes.
CREATE TABLE rate_counters (
    key_id  INTEGER NOT NULL,
    second  INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, second)
) WITHOUT ROWID;
