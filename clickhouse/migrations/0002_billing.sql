-- Billed lines: one row per call, with the integer quantities the pricing rules derived.
-- The meter inserts a call only after checking its id is not billed yet (the sort key starts
-- with tenant and hour so that check reads only the hours a batch touches). Rollups below are
-- fed by materialized views in the same insert, so every read of usage is a small aggregate.
-- usage_period is the month the call ran in; billing_period is the statement that bills it
-- (a later one when the call arrived after its month was closed: an adjustment).

CREATE TABLE IF NOT EXISTS billed_calls (
    event_id String,
    tenant String,
    function String,
    revision String,
    instance String,
    arch String,
    plan String,
    hour DateTime,
    start_ms UInt64,
    usage_period String,
    billing_period String,
    memory_mb UInt32,
    duration_us UInt64,
    billed_ms UInt64,
    mb_ms UInt64,
    cold UInt8,
    init_duration_us UInt64,
    init_billed_ms UInt64,
    init_mb_ms UInt64,
    wait_us UInt64,
    error UInt8,
    timeout UInt8,
    max_memory_used_mb UInt32,
    written_ms UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, event_id);

CREATE TABLE IF NOT EXISTS usage_minute (
    tenant String,
    minute DateTime,
    function String,
    revision String,
    arch String,
    calls UInt64,
    errors UInt64,
    timeouts UInt64,
    cold_starts UInt64,
    duration_us UInt64,
    billed_ms UInt64,
    mb_ms UInt64,
    init_billed_ms UInt64,
    init_mb_ms UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant, minute, function, revision, arch);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_minute_mv TO usage_minute AS
SELECT
    tenant,
    toStartOfMinute(toDateTime(intDiv(start_ms, 1000))) AS minute,
    function,
    revision,
    arch,
    count() AS calls,
    sum(error) AS errors,
    sum(timeout) AS timeouts,
    sum(cold) AS cold_starts,
    sum(duration_us) AS duration_us,
    sum(billed_ms) AS billed_ms,
    sum(mb_ms) AS mb_ms,
    sum(init_billed_ms) AS init_billed_ms,
    sum(init_mb_ms) AS init_mb_ms
FROM billed_calls
GROUP BY tenant, minute, function, revision, arch;

CREATE TABLE IF NOT EXISTS usage_hour (
    tenant String,
    hour DateTime,
    function String,
    revision String,
    arch String,
    calls UInt64,
    errors UInt64,
    timeouts UInt64,
    cold_starts UInt64,
    duration_us UInt64,
    billed_ms UInt64,
    mb_ms UInt64,
    init_billed_ms UInt64,
    init_mb_ms UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, function, revision, arch);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hour_mv TO usage_hour AS
SELECT
    tenant,
    hour,
    function,
    revision,
    arch,
    count() AS calls,
    sum(error) AS errors,
    sum(timeout) AS timeouts,
    sum(cold) AS cold_starts,
    sum(duration_us) AS duration_us,
    sum(billed_ms) AS billed_ms,
    sum(mb_ms) AS mb_ms,
    sum(init_billed_ms) AS init_billed_ms,
    sum(init_mb_ms) AS init_mb_ms
FROM billed_calls
GROUP BY tenant, hour, function, revision, arch;

-- Peak memory per configured size, for right-sizing; a max survives merges only as a state.
CREATE TABLE IF NOT EXISTS memory_peaks (
    tenant String,
    day Date,
    function String,
    revision String,
    arch String,
    memory_mb UInt32,
    calls AggregateFunction(sum, UInt64),
    billed_ms AggregateFunction(sum, UInt64),
    init_billed_ms AggregateFunction(sum, UInt64),
    peak_used_mb AggregateFunction(max, UInt32)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, function, revision, arch, memory_mb);

CREATE MATERIALIZED VIEW IF NOT EXISTS memory_peaks_mv TO memory_peaks AS
SELECT
    tenant,
    toDate(hour) AS day,
    function,
    revision,
    arch,
    memory_mb,
    sumState(toUInt64(1)) AS calls,
    sumState(billed_ms) AS billed_ms,
    sumState(init_billed_ms) AS init_billed_ms,
    maxState(max_memory_used_mb) AS peak_used_mb
FROM billed_calls
GROUP BY tenant, day, function, revision, arch, memory_mb;

CREATE TABLE IF NOT EXISTS usage_day (
    tenant String,
    day Date,
    function String,
    revision String,
    arch String,
    calls UInt64,
    errors UInt64,
    timeouts UInt64,
    cold_starts UInt64,
    duration_us UInt64,
    billed_ms UInt64,
    mb_ms UInt64,
    init_billed_ms UInt64,
    init_mb_ms UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, function, revision, arch);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_day_mv TO usage_day AS
SELECT
    tenant,
    toDate(hour) AS day,
    function,
    revision,
    arch,
    count() AS calls,
    sum(error) AS errors,
    sum(timeout) AS timeouts,
    sum(cold) AS cold_starts,
    sum(duration_us) AS duration_us,
    sum(billed_ms) AS billed_ms,
    sum(mb_ms) AS mb_ms,
    sum(init_billed_ms) AS init_billed_ms,
    sum(init_mb_ms) AS init_mb_ms
FROM billed_calls
GROUP BY tenant, day, function, revision, arch;

-- What statements price. A rebalance can, rarely, let two meters write the same batch, so
-- billed_calls may hold a call twice; money is never summed from it directly. Once an hour is
-- over, the sealer aggregates it with one row per event id into billing_hours (cheap: one
-- hour of data) and records the seal; late rows for a sealed hour make the sealer re-seal it,
-- and the newest seal of an hour replaces the older ones (argMax by sealed_ms). Statements
-- read sealed hours plus a deduplicated pass over the few hours not sealed yet.
CREATE TABLE IF NOT EXISTS billing_hours (
    tenant String,
    hour DateTime,
    billing_period String,
    usage_period String,
    arch String,
    calls UInt64,
    billed_ms UInt64,
    mb_ms UInt64,
    init_billed_ms UInt64,
    init_mb_ms UInt64,
    sealed_ms UInt64
) ENGINE = ReplacingMergeTree(sealed_ms)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, billing_period, usage_period, arch);

CREATE TABLE IF NOT EXISTS sealed_hours (
    hour DateTime,
    sealed_ms UInt64
) ENGINE = ReplacingMergeTree(sealed_ms)
PARTITION BY toYYYYMM(hour)
ORDER BY hour;

-- Each hour's latest write, inserted before a batch's calls: the sealer's list of hours that may
-- need (re)sealing, and the readers' list of hours whose seal may be stale. Merges keep only the
-- newest write per hour, so it stays one row per hour however many batches wrote into it.
CREATE TABLE IF NOT EXISTS written_hours (
    hour DateTime,
    written_ms UInt64
) ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(hour)
ORDER BY hour;

-- Cold calls are a small share of all calls; keeping them apart makes percentile reads cheap.
CREATE TABLE IF NOT EXISTS cold_starts (
    tenant String,
    function String,
    revision String,
    arch String,
    instance String,
    hour DateTime,
    start_ms UInt64,
    event_id String,
    init_duration_us UInt64,
    wait_us UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, function, hour, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS cold_starts_mv TO cold_starts AS
SELECT tenant, function, revision, arch, instance, hour, start_ms, event_id, init_duration_us, wait_us
FROM billed_calls
WHERE cold = 1;

-- Busy time per instance and hour: idle provisioned time (min-scale > 0) is an instance's
-- ready-to-stopped lifetime minus this, priced when a statement is built.
CREATE TABLE IF NOT EXISTS instance_usage (
    tenant String,
    hour DateTime,
    instance String,
    function String,
    arch String,
    calls UInt64,
    busy_ms UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, instance, function, arch);

CREATE MATERIALIZED VIEW IF NOT EXISTS instance_usage_mv TO instance_usage AS
SELECT tenant, hour, instance, function, arch, count() AS calls, sum(billed_ms + init_billed_ms) AS busy_ms
FROM billed_calls
GROUP BY tenant, hour, instance, function, arch;
