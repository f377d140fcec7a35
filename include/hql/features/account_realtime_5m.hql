{#- features.account_realtime_5m: features/account_realtime.hql for the window set 5m. -#}
{% set window_set = window_sets['5m'] %}
{% include "features/account_realtime.hql" %}
