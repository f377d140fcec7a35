{#- One round of the connected components (Kiveris et al., "Connected Components in
    MapReduce and Beyond", 2014) over the symmetric edge table `edges` (u, v; both
    directions, no self-loops), written as one table: the round's checkpoint.

    Large-star: every vertex hands its larger neighbours to the smallest of its
    neighbourhood, itself included. Small-star, on what that gives: every vertex hands
    itself and its smaller neighbours to the smallest of them. -#}
DROP TABLE IF EXISTS {{ out }};
CREATE TABLE {{ out }} STORED AS PARQUET AS
WITH large_least AS (
  SELECT u, least(u, min(v)) AS m FROM {{ edges }} GROUP BY u
), large_moved AS (
  SELECT DISTINCT e.v AS a, l.m AS b FROM {{ edges }} e JOIN large_least l ON e.u = l.u WHERE e.v > e.u
), large AS (
  SELECT a AS u, b AS v FROM large_moved
  UNION
  SELECT b AS u, a AS v FROM large_moved
), smaller AS (
  SELECT u, v FROM large WHERE v < u
), small_least AS (
  SELECT u, min(v) AS m FROM smaller GROUP BY u
), small_moved AS (
  SELECT s.v AS a, l.m AS b FROM smaller s JOIN small_least l ON s.u = l.u WHERE s.v <> l.m
  UNION
  SELECT u AS a, m AS b FROM small_least
)
SELECT a AS u, b AS v FROM small_moved
UNION
SELECT b AS u, a AS v FROM small_moved
