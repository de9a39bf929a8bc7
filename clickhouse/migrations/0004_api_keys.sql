-- Billing API keys: only a SHA-256 hash of each key is stored. Revocation is a newer row for
-- the same key id (ReplacingMergeTree by version), read with FINAL on this small table.

CREATE TABLE IF NOT EXISTS api_keys (
    key_id String,
    key_hash String,
    tenant String,
    role String,
    name String,
    created_ms UInt64,
    revoked_ms UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;
