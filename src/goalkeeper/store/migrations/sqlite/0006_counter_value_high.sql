-- goalkeeper schema, version 6 (SQLite): value counters past 64 bits.
-- Each fulfillment's value fits in a signed 64-bit integer; the sum of a quarter hour's
-- values need not, and SQLite's integers stop there (an addition that overflows turns
-- into an inexact REAL). A value counter is therefore value_high * 2^32 + value, with
-- value kept in [0, 2^32) by every write; reports add the two parts up apart.
ALTER TABLE goal_counters ADD COLUMN value_high INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message_counters ADD COLUMN value_high INTEGER NOT NULL DEFAULT 0;
UPDATE goal_counters SET value_high = value >> 32, value = value & 4294967295;
UPDATE message_counters SET value_high = value >> 32, value = value & 4294967295;
