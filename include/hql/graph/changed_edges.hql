{#- How many edges one round changed: those of either table that the other lacks. -#}
SELECT count(*) FROM (
  (SELECT u, v FROM {{ before }} EXCEPT SELECT u, v FROM {{ after }})
  UNION ALL
  (SELECT u, v FROM {{ after }} EXCEPT SELECT u, v FROM {{ before }})
) d
