{#- One micro-batch of the streaming job: each usable event (the view `events`: parsed and
    cleaned by features/_clean.hql) as its counters' parts (features/_account_windows.hql),
    with the identifiers pseudonymized and the event_id as two 64-bit hashes. The job's
    bucket store drops late events and duplicates, then adds the parts up per account and
    minute (integrity_risk.streaming.buckets). No state in Spark: a batch is its events. -#}
{% from "features/_clean.hql" import derived_columns -%}
{% from "features/_account_windows.hql" import event_counters, pseudonymized_ids -%}
SELECT account_pk, ip_pk, device_pk, unix_micros(event_time) AS event_micros,
       -- 128 bits of the event_id for its duplicates: a collision among the ids within the
       -- watermark (about a million at 10,000 events a second) is as likely as 1 in 10^26
       xxhash64(event_id) AS id_hi, xxhash64(event_id, 1) AS id_lo,
       {{ event_counters() }}
FROM (
  SELECT e.event_time, e.event_type, e.event_id,
         {{ pseudonymized_ids('e') }},
         {{ derived_columns('e') }}
  FROM events e
) x
