{#- The cleaning stage's definition of a usable upstream event, in one place: the
    extracts keep only these rows (features/_events.hql) and the upstream health gate
    counts the others as dirty (integrity_risk.operators.upstream_health). A row is dirty
    when its event_id, account_id, event_time or event_type is NULL, its account_id is
    blank, or its event_type is none of EVENT_TYPES. -#}
{%- set EVENT_TYPES = ['login', 'view', 'like', 'follow', 'comment', 'share', 'post',
                       'message', 'click_link', 'api_request', 'payment_attempt'] -%}
{%- macro clean_event(e) -%}
{{ e }}.event_id IS NOT NULL
      AND {{ e }}.account_id IS NOT NULL AND {{ e }}.account_id <> ''
      AND {{ e }}.event_type IN ('{{ EVENT_TYPES | join("', '") }}')
      AND {{ e }}.event_time IS NOT NULL
{%- endmacro -%}
