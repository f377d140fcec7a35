"""Stage operators of the integrity pipelines, one module per stage.

Import each from its module (``from integrity_risk.operators.hive_extract import
HiveExtractOperator``); this package imports nothing itself, so a DAG file that
uses one operator does not pay for the others.

- :mod:`.hive_extract`: ``HiveExtractOperator`` writes one pseudonymized daily
  partition of a ``features.*`` table from a HiveQL template in ``include/hql``.
- :mod:`.quality_gate`: ``QualityGateOperator`` checks that partition (rows against
  the trailing days, NULL rates, ranges, schema) before anything is published.
"""
