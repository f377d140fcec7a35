"""Local tooling, never installed on workers: the embedded HiveServer2 and Airflow, the demo,
the load check, the synthetic world and the Airflow API client.
"""
