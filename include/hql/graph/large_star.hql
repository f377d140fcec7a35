{#- One large-star step of the connected components (Kiveris et al., "Connected Components
    in MapReduce and Beyond", 2014) over the symmetric edge table `edges` (u, v; both
    directions, no self-loops): every vertex hands its larger neighbours to the smallest of
    its neighbourhood, itself included. Written as a table: the round's checkpoint. -#}
DROP TABLE IF EXISTS {{ out }};
CREATE TABLE {{ out }} STORED AS PARQUET AS
WITH least_of AS (
  SELECT u, least(u, min(v)) AS m FROM {{ edges }} GROUP BY u
), moved AS (
  SELECT DISTINCT e.v AS a, l.m AS b FROM {{ edges }} e JOIN least_of l ON e.u = l.u WHERE e.v > e.u
)
SELECT a AS u, b AS v FROM moved
UNION
SELECT b AS u, a AS v FROM moved
