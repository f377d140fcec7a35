-- Output tables of the extracts (database `features`); docs/contracts.md has the
-- meaning of each column. HiveExtractOperator runs this file before every extract
-- (all statements are IF NOT EXISTS), and the quality gate reads each table's
-- expected schema from it, so a column is added here and in the table's HQL.
-- Keep `;` and `--` out of string literals: statements are split on them.

CREATE DATABASE IF NOT EXISTS features;

CREATE TABLE IF NOT EXISTS features.account_daily (
  account_pk                STRING,
  feature_ts                TIMESTAMP,
  has_profile               INT,
  account_age_days          DOUBLE,
  phone_verified            INT,
  is_business               INT,
  country                   STRING,
  events_1d                 BIGINT,
  events_7d                 BIGINT,
  max_events_1h             BIGINT,
  active_hours_1d           BIGINT,
  distinct_event_types_1d   BIGINT,
  distinct_devices_1d       BIGINT,
  distinct_ips_1d           BIGINT,
  device_shared_accounts_1d BIGINT,
  ip_shared_accounts_1d     BIGINT,
  fail_ratio_1d             DOUBLE,
  country_mismatch_ratio_1d DOUBLE,
  automation_ua_ratio_1d    DOUBLE
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.abusive_account_daily (
  account_pk                 STRING,
  feature_ts                 TIMESTAMP,
  signup_device_accounts     BIGINT,
  signup_ip_accounts         BIGINT,
  logins_1d                  BIGINT,
  login_fail_ratio_7d        DOUBLE,
  follows_1d                 BIGINT,
  follows_7d                 BIGINT,
  distinct_follow_targets_7d BIGINT,
  posts_1d                   BIGINT,
  messages_1d                BIGINT,
  distinct_ips_7d            BIGINT,
  distinct_devices_7d        BIGINT,
  active_days_7d             BIGINT
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.fake_engagement_daily (
  account_pk                   STRING,
  feature_ts                   TIMESTAMP,
  engagements_1d               BIGINT,
  engagements_7d               BIGINT,
  likes_1d                     BIGINT,
  follows_1d                   BIGINT,
  comments_1d                  BIGINT,
  shares_1d                    BIGINT,
  max_engagements_1h           BIGINT,
  distinct_engaged_accounts_1d BIGINT,
  distinct_engaged_accounts_7d BIGINT,
  distinct_engaged_items_1d    BIGINT,
  engagement_ratio_1d          DOUBLE
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.spam_redirect_daily (
  account_pk                  STRING,
  feature_ts                  TIMESTAMP,
  url_events_1d               BIGINT,
  url_events_7d               BIGINT,
  url_event_ratio_1d          DOUBLE,
  distinct_domains_1d         BIGINT,
  distinct_domains_7d         BIGINT,
  top_domain_share_7d         DOUBLE,
  click_links_1d              BIGINT,
  content_events_1d           BIGINT,
  content_url_ratio_1d        DOUBLE,
  distinct_message_targets_1d BIGINT,
  max_url_events_1h           BIGINT
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.scraping_daily (
  account_pk                     STRING,
  feature_ts                     TIMESTAMP,
  requests_1d                    BIGINT,
  requests_7d                    BIGINT,
  views_1d                       BIGINT,
  api_requests_1d                BIGINT,
  max_requests_1h                BIGINT,
  request_active_hours_1d        BIGINT,
  distinct_viewed_accounts_1d    BIGINT,
  distinct_viewed_items_1d       BIGINT,
  api_fail_ratio_1d              DOUBLE,
  distinct_user_agents_1d        BIGINT,
  request_automation_ua_ratio_1d DOUBLE
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.fraud_daily (
  account_pk                        STRING,
  feature_ts                        TIMESTAMP,
  payment_attempts_1d               BIGINT,
  payment_attempts_7d               BIGINT,
  payment_fail_ratio_1d             DOUBLE,
  payment_fail_ratio_7d             DOUBLE,
  payment_amount_sum_1d             DOUBLE,
  payment_amount_max_1d             DOUBLE,
  payment_amount_sum_7d             DOUBLE,
  max_payments_1h                   BIGINT,
  payment_devices_7d                BIGINT,
  payment_country_mismatch_ratio_7d DOUBLE
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

-- The account graph's features (features/graph_daily.hql, from graph.account_components):
-- per account, its connected component through shared devices and IPs at the end of ds.
CREATE TABLE IF NOT EXISTS features.graph_daily (
  account_pk                     STRING,
  feature_ts                     TIMESTAMP,
  component_accounts             BIGINT,   -- accounts in its component, itself included
  component_devices              BIGINT,   -- devices in it (hubs are in none)
  component_ips                  BIGINT,   -- IPs in it
  component_created_spread_days  DOUBLE,   -- standard deviation of its accounts' created_at, in days
  hub_nodes                      BIGINT,   -- hubs it used: devices and IPs of more than hub_max_accounts accounts
  component_labelled_share       DOUBLE,   -- share of its other accounts with a matured confirmed label
  component_shared_target_share  DOUBLE,   -- share of the accounts it engaged (14 days) another member engaged too
  component_anomaly_score        DOUBLE    -- robust z-scores of its component's statistics against the day's (0: alone)
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.labels (
  account_pk  STRING,
  risk_type   STRING,
  label       INT,
  labeled_at  TIMESTAMP,
  observed_at TIMESTAMP
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

-- The streaming job's real-time counters recomputed in batch (features/account_realtime.hql),
-- one table per window set (integrity_risk.streaming.windows); a counter's suffix is its set.

CREATE TABLE IF NOT EXISTS features.account_realtime_5m (
  account_pk            STRING,
  feature_ts            TIMESTAMP,
  window_start          TIMESTAMP,
  window_end            TIMESTAMP,
  events_5m             BIGINT,
  login_fails_5m        BIGINT,
  payment_attempts_5m   BIGINT,
  payment_fails_5m      BIGINT,
  payment_amount_sum_5m DOUBLE,
  follows_5m            BIGINT,
  likes_5m              BIGINT,
  distinct_ips_5m       BIGINT,
  distinct_devices_5m   BIGINT,
  link_posts_5m         BIGINT
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS features.account_realtime_1h (
  account_pk            STRING,
  feature_ts            TIMESTAMP,
  window_start          TIMESTAMP,
  window_end            TIMESTAMP,
  events_1h             BIGINT,
  login_fails_1h        BIGINT,
  payment_attempts_1h   BIGINT,
  payment_fails_1h      BIGINT,
  payment_amount_sum_1h DOUBLE,
  follows_1h            BIGINT,
  likes_1h              BIGINT,
  distinct_ips_1h       BIGINT,
  distinct_devices_1h   BIGINT,
  link_posts_1h         BIGINT
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;
