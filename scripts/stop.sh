#!/usr/bin/env bash
# Stop the demo's local services (the streaming job and Kafka of `demo.sh --streaming`, Airflow,
# then HiveServer2). State in .local/ is kept.
source "$(dirname "$0")/env.sh"
python -m integrity_local.streaming_job stop
python -m integrity_local.kafka stop
python -m integrity_local.airflow_services stop
python -m integrity_local.hiveserver2 stop
