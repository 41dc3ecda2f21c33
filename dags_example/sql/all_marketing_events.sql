-- Every marketing event of the table (the weekly reconcile compares the whole table with HubSpot).
-- Column names are the source keys of field_map; ORDER BY updated_at: a duplicate's later row wins.
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
ORDER BY updated_at
