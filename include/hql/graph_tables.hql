-- The account graph (integrity_risk.graph; docs/contracts.md, "Graph features"): pseudonyms
-- only. Keep `;` and `--` out of string literals: statements are split on them.

CREATE DATABASE IF NOT EXISTS graph;

-- Partition ds: every account and the device or IP it used (or signed up with) over the
-- window of include/tables/graph.yaml ending with ds. node: '<kind>:<pseudonym>', kind
-- device or ip; node_accounts: how many accounts used it; window_days_seen: the days of
-- the window that hold events; hub: the node is a hub, not an edge, above hub_max_accounts
-- scaled to the days seen (node_accounts * window_days > hub_max_accounts * window_days_seen).
CREATE TABLE IF NOT EXISTS graph.account_edges (
  account_pk        STRING,
  node              STRING,
  kind              STRING,
  node_accounts     BIGINT,
  window_days_seen  INT,
  hub               BOOLEAN
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;

-- Partition ds: the connected component of every vertex (account or node) of the edges
-- that are not hubs, named by its smallest vertex.
CREATE TABLE IF NOT EXISTS graph.account_components (
  vertex     STRING,
  component  STRING
)
PARTITIONED BY (ds STRING)
STORED AS PARQUET;
