-- Dashboard sign-ins. The cookie carries the account id and a random token; only the
-- token's SHA-256 is kept, so the database alone cannot make a session, and signing out
-- deletes the row. A session lasts while its admin key is active and it has not expired.
CREATE TABLE dashboard_sessions (
    account_id  INTEGER NOT NULL,
    token_hash  BLOB NOT NULL,
    key_id      INTEGER NOT NULL REFERENCES api_keys(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (account_id, token_hash)
) WITHOUT ROWID;

-- The signing secret of the sessions they replace is no longer used.
DROP TABLE secrets;
