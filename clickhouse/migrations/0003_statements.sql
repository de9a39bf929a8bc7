-- Closed periods and their final statements. A period is closed once per tenant; events that
-- arrive for it afterwards are billed in the next open period as adjustments.

CREATE TABLE IF NOT EXISTS closed_periods (
    tenant String,
    period String,
    closed_ms UInt64,
    closed_time DateTime
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, period);

CREATE TABLE IF NOT EXISTS statements (
    tenant String,
    period String,
    status String,
    plan String,
    currency String,
    subtotal String,
    total String,
    lines_json String,
    usage_json String,
    created_ms UInt64,
    created_time DateTime
) ENGINE = ReplacingMergeTree(created_ms)
PARTITION BY period
ORDER BY (tenant, period, status);
