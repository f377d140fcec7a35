#!/usr/bin/env bash
# Runs Spark's Thrift Server (the HiveServer2 protocol) in the foreground, so the
# container lives as long as the server. Port and metastore: $SPARK_CONF_DIR/hive-site.xml.
set -euo pipefail
umask 002
exec /opt/spark/bin/spark-submit \
  --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
  --name integrity-hiveserver2 \
  --master "${SPARK_MASTER:-local[*]}" \
  --driver-memory "${SPARK_DRIVER_MEMORY:-4g}" \
  spark-internal
