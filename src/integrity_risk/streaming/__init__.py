"""The streaming path: Kafka's ``user_events`` to per-account sliding-window counters online.

``windows`` names the window sets and their counters, ``job`` is the Spark Structured
Streaming job, ``sink`` hands each micro-batch to Feast, ``status`` is what the job reports
for Airflow to supervise.
"""
