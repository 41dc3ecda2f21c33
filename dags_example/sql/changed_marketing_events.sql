-- Marketing events changed during the run's data interval: [data_interval_start, data_interval_end).
-- updated_at is 'YYYY-MM-DD HH:MM:SS' UTC text, so plain string literals compare correctly in any
-- dialect (SQLite, Postgres, Snowflake, BigQuery...). Column names are the source keys of field_map.
-- ORDER BY updated_at: when one event was exported twice in the interval, the later row wins.
SELECT
    event_id,
    account_id,
    event_name,
    event_type,
    organizer,
    description,
    event_url,
    starts_at,
    ends_at,
    cancelled,
    completed,
    region,
    capacity,
    updated_at
FROM marketing_events
WHERE updated_at >= '{{ data_interval_start.strftime("%Y-%m-%d %H:%M:%S") }}'
  AND updated_at <  '{{ data_interval_end.strftime("%Y-%m-%d %H:%M:%S") }}'
ORDER BY updated_at
