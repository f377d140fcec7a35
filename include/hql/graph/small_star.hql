{#- One small-star step (large_star.hql names the method): every vertex hands itself and its
    smaller neighbours to the smallest of them. -#}
DROP TABLE IF EXISTS {{ out }};
CREATE TABLE {{ out }} STORED AS PARQUET AS
WITH smaller AS (
  SELECT u, v FROM {{ edges }} WHERE v < u
), least_of AS (
  SELECT u, min(v) AS m FROM smaller GROUP BY u
), moved AS (
  SELECT s.v AS a, l.m AS b FROM smaller s JOIN least_of l ON s.u = l.u WHERE s.v <> l.m
  UNION
  SELECT u AS a, m AS b FROM least_of
)
SELECT a AS u, b AS v FROM moved
UNION
SELECT b AS u, a AS v FROM moved
