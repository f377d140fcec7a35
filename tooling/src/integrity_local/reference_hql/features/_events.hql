{#- The extracts' look-back before the cleaning stage (issue #18), kept as the reference the
    cleaned extracts are compared with (tests/extract/test_clean_events.py, bench/bench_extract.py).
    Included by every features/*.hql right after WITH: the cleaned events of the
    look-back window as CTE `ev`, and those of the day `ds` as CTE `day`.
    Dirty upstream rows (features/_clean.hql, which the upstream health gate counts
    with the same definition) and rows with an event_time outside
    [lookback_start, window_end) are dropped; an event_id seen more than once counts
    once (the earliest copy).
    Duplicates are removed before the window is cut, over a day more than the window
    (from dedup_start): a retry stamped inside the window whose first copy came just
    before it is the same event, outside. Older partitions that do not exist simply
    contribute no rows. -#}
{% from "features/_clean.hql" import clean_event -%}
ev AS (
  SELECT account_id, device_id, ip, user_agent, country, event_type, target_account_id,
         target_item_id, url, status, event_time,
         CASE WHEN url IS NOT NULL AND trim(url) <> '' THEN 1 ELSE 0 END AS has_url,
         lower(parse_url(url, 'HOST')) AS domain,
         CASE WHEN status = 'fail' THEN 1 ELSE 0 END AS is_fail,
         CASE WHEN status IN ('success', 'fail') THEN 1 ELSE 0 END AS has_status,
         -- amounts: payment attempts only; NaN, negative or absurd ones add nothing
         CASE WHEN event_type = 'payment_attempt' AND NOT isnan(amount)
                   AND amount >= 0 AND amount <= 1000000 THEN amount END AS amount_usd,
         CASE WHEN lower(user_agent) RLIKE
                   '(headless|phantomjs|selenium|puppeteer|playwright|webdriver|bot|crawl|spider|scrapy|curl|wget|python-requests|python-urllib|aiohttp|go-http-client|okhttp|java/|libwww)'
              THEN 1 ELSE 0 END AS automation_ua
  FROM (
    SELECT e.*,
           row_number() OVER (PARTITION BY e.event_id
                              ORDER BY e.event_time, e.ds, e.account_id, e.device_id, e.ip, e.status,
                                       e.url, e.amount, e.target_account_id, e.target_item_id) AS copy_no
    FROM raw.user_events e
    WHERE e.ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
      AND {{ clean_event('e') }}
      AND e.event_time >= TIMESTAMP '{{ dedup_start }}'
      AND e.event_time < TIMESTAMP '{{ window_end }}'
  ) deduped
  WHERE copy_no = 1
    AND event_time >= TIMESTAMP '{{ lookback_start }}'
),
day AS (
  SELECT * FROM ev WHERE event_time >= TIMESTAMP '{{ window_start }}'
)
