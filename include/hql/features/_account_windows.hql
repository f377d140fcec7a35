{#- The real-time counters of one window set (integrity_risk.streaming.windows), one
    definition for the streaming job (streaming/account_windows.hql) and the batch
    recomputation (features/account_realtime.hql): per account and sliding window, over
    cleaned events with the account, IP and device already pseudonymized (account_pk,
    ip_pk, device_pk) and the cleaning stage's derived columns. -#}
{%- macro window_counters(suffix) -%}
count(*) AS events_{{ suffix }},
       sum(CASE WHEN event_type = 'login' THEN is_fail ELSE 0 END) AS login_fails_{{ suffix }},
       sum(CASE WHEN event_type = 'payment_attempt' THEN 1 ELSE 0 END) AS payment_attempts_{{ suffix }},
       sum(CASE WHEN event_type = 'payment_attempt' THEN is_fail ELSE 0 END) AS payment_fails_{{ suffix }},
       -- exact (DECIMAL), then rounded once: a window adds its events up in no fixed order
       CAST(coalesce(sum(CAST(amount_usd AS DECIMAL(20, 6))), 0) AS DOUBLE) AS payment_amount_sum_{{ suffix }},
       sum(CASE WHEN event_type = 'follow' THEN 1 ELSE 0 END) AS follows_{{ suffix }},
       sum(CASE WHEN event_type = 'like' THEN 1 ELSE 0 END) AS likes_{{ suffix }},
       CAST(size(collect_set(ip_pk)) AS BIGINT) AS distinct_ips_{{ suffix }},
       CAST(size(collect_set(device_pk)) AS BIGINT) AS distinct_devices_{{ suffix }},
       sum(CASE WHEN event_type IN ('post', 'comment', 'message') THEN has_url ELSE 0 END) AS link_posts_{{ suffix }},
       max(event_time) AS last_event_time
{%- endmacro -%}

{#- The identifiers the counters read, pseudonymized: the only form that leaves the cleaning
    stage (and the only one the streaming job's state and checkpoints hold). -#}
{%- macro pseudonymized_ids(e) -%}
{{ pseudonymize(e ~ '.account_id') }} AS account_pk,
       {{ pseudonymize(e ~ '.ip') }} AS ip_pk,
       {{ pseudonymize(e ~ '.device_id') }} AS device_pk
{%- endmacro -%}

{#- The window an account's value online is: the one that ends at the first boundary after
    its newest event, i.e. its events of the last `length` (up to a slide less) up to now. -#}
{%- macro is_current_window(w, slide_micros) -%}
{{ w }}.window_end = timestamp_micros((floor(unix_micros({{ w }}.last_event_time) / {{ slide_micros }}) + 1) * {{ slide_micros }})
{%- endmacro -%}
