{#- features.account_realtime_1h: features/account_realtime.hql for the window set 1h. -#}
{% set window_set = window_sets['1h'] %}
{% include "features/account_realtime.hql" %}
