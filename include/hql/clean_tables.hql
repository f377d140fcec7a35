-- The cleaning stage's output (database `clean`): each raw day's usable events, cleaned
-- and deduplicated once, with the columns every feature extract derives from them.
-- Raw identifiers stay in this database, which only the extracts read; they leave it
-- only as keyed hashes (features.*). docs/contracts.md has the meaning of each column.
-- Keep `;` and `--` out of string literals: statements are split on them.

CREATE DATABASE IF NOT EXISTS clean;

-- Partition ds holds the usable rows of raw.user_events partition ds (the partition the
-- row was loaded in, not its event_time's day): one row per event_id, none whose
-- event_id the partition before already had.
CREATE TABLE IF NOT EXISTS clean.user_events (
  event_id          STRING,
  event_time        TIMESTAMP,
  account_id        STRING,     -- PII: raw platform id
  device_id         STRING,     -- PII
  ip                STRING,     -- PII
  user_agent        STRING,
  country           STRING,
  event_type        STRING,
  target_account_id STRING,
  target_item_id    STRING,
  has_url           INT,        -- 1 when url is not blank
  domain            STRING,     -- lower-case host of url, NULL when it has none
  is_fail           INT,        -- 1 when status = 'fail'
  has_status        INT,        -- 1 when status is success or fail
  amount_usd        DOUBLE,     -- amount of a payment attempt, NULL when absurd or another event
  automation_ua     INT         -- 1 when user_agent names a headless browser, bot or HTTP library
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

-- Daily partials of clean.user_events partition ds, per account and event_time day
-- (event_date): what the feature extracts' multi-day windows add up, so a window reads
-- these instead of every cleaned event of its days. Written with the partition they come
-- from, by the same task (clean/user_events.hql).
-- Counts per account, event day, event type and event country.
CREATE TABLE IF NOT EXISTS clean.account_day_counts (
  account_id   STRING,     -- PII: raw platform id
  event_date   DATE,       -- to_date(event_time), UTC
  event_type   STRING,
  country      STRING,
  n            BIGINT,     -- events
  fails        BIGINT,     -- sum(is_fail)
  with_status  BIGINT,     -- sum(has_status)
  url_events   BIGINT,     -- sum(has_url)
  amount_usd   DECIMAL(30, 6)  -- sum(amount_usd), exact; NULL when no event had one
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

-- The distinct values an account used on an event day, per kind, with their events:
-- exact distinct counts (and the top domain) over any window. Kinds: device, ip
-- (every event), payment_device (payment attempts), engaged_account (target of a like,
-- follow, comment or share), follow_target (target of a follow), domain (of an event
-- with a url). NULL values are left out, as collect_set does.
CREATE TABLE IF NOT EXISTS clean.account_day_values (
  account_id   STRING,     -- PII
  event_date   DATE,
  kind         STRING,
  value        STRING,     -- PII for device, ip and the account kinds
  n            BIGINT
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;
