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

{#- The columns the cleaning stage derives from a usable row of alias `c`, computed once for
    every extract (clean/user_events.hql) and by the streaming job on each event. -#}
{%- macro derived_columns(c) -%}
CASE WHEN {{ c }}.url IS NOT NULL AND trim({{ c }}.url) <> '' THEN 1 ELSE 0 END AS has_url,
       lower(parse_url({{ c }}.url, 'HOST')) AS domain,
       CASE WHEN {{ c }}.status = 'fail' THEN 1 ELSE 0 END AS is_fail,
       CASE WHEN {{ c }}.status IN ('success', 'fail') THEN 1 ELSE 0 END AS has_status,
       -- amounts: payment attempts only; NaN, negative or absurd ones add nothing
       CASE WHEN {{ c }}.event_type = 'payment_attempt' AND NOT isnan({{ c }}.amount)
                 AND {{ c }}.amount >= 0 AND {{ c }}.amount <= 1000000 THEN {{ c }}.amount END AS amount_usd,
       CASE WHEN lower({{ c }}.user_agent) RLIKE
                 '(headless|phantomjs|selenium|puppeteer|playwright|webdriver|bot|crawl|spider|scrapy|curl|wget|python-requests|python-urllib|aiohttp|go-http-client|okhttp|java/|libwww)'
            THEN 1 ELSE 0 END AS automation_ua
{%- endmacro -%}
