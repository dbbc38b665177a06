-- Dashboard sign-ins. The cookie carries the account id and a random token; only the
-- token's SHA-256 is kept, so the database alone cannot make a session, and signing out
-- deletes the row. A session lasts while its admin key is active and it has not expired.
CREATE TABLE dashboard_sessions (
    account_id  bigint NOT NULL,
    token_hash  bytea NOT NULL,
    key_id      bigint NOT NULL REFERENCES api_keys(id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, token_hash)
);

-- The signing secret of the sessions they replace is no longer used.
DROP TABLE secrets;
