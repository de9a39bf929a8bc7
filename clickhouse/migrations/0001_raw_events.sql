-- Raw contract events as received, one table per event type. Epoch milliseconds are kept in
-- UInt64 beside a DateTime (no DateTime64: it must run on 18.16 as well as current servers).
-- ReplacingMergeTree collapses a re-delivered event whose sort key matches its original; the
-- meter already skips known ids, so this is a backstop for the raw record, not the billing guard.

CREATE TABLE IF NOT EXISTS invocations_raw (
    event_id String,
    source String,
    tenant String,
    function String,
    revision String,
    instance String,
    trigger String,
    start_ms UInt64,
    start_time DateTime,
    duration_us UInt64,
    status String,
    http_status Nullable(UInt16),
    cold UInt8,
    init_duration_us UInt64,
    wait_us UInt64,
    memory_mb UInt32,
    max_memory_used_mb Nullable(UInt32),
    cpu_us Nullable(UInt64),
    arch String,
    request_bytes UInt64,
    response_bytes UInt64,
    received_ms UInt64,
    kafka_partition UInt32,
    kafka_offset UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(start_time)
ORDER BY (tenant, function, start_time, event_id);

CREATE TABLE IF NOT EXISTS lifecycle_events (
    event_id String,
    tenant String,
    function String,
    revision String,
    instance String,
    phase String,
    time_ms UInt64,
    time DateTime,
    stop_reason String,
    runtime_init_us Nullable(UInt64),
    app_init_us Nullable(UInt64),
    first_request_wait_us Nullable(UInt64),
    provisioned UInt8,
    memory_mb UInt32,
    arch String,
    received_ms UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, instance, time, event_id);

CREATE TABLE IF NOT EXISTS resource_samples (
    event_id String,
    tenant String,
    function String,
    revision String,
    instance String,
    time_ms UInt64,
    time DateTime,
    cpu_usage_us UInt64,
    cpu_throttled_us UInt64,
    memory_current_bytes UInt64,
    memory_peak_bytes UInt64,
    oom_kills UInt64,
    received_ms UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, function, instance, time, event_id);
