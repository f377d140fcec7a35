#!/usr/bin/env bash
# Starts the standalone Hive metastore on PostgreSQL: writes hive-site.xml with
# the database password from the environment (never on a command line, never
# echoed), creates or upgrades the schema, then runs the metastore in the
# foreground on port 9083.
set -euo pipefail

: "${HIVE_METASTORE_DB_PASSWORD:?HIVE_METASTORE_DB_PASSWORD is not set (see .env.example)}"
DB_URL="${HIVE_METASTORE_DB_URL:-jdbc:postgresql://postgres:5432/metastore}"
DB_USER="${HIVE_METASTORE_DB_USER:-hive_metastore}"
WAREHOUSE="${HIVE_METASTORE_WAREHOUSE:-file:///opt/warehouse}"

xml_escape() {
  # printf is a builtin, so the value goes through a pipe, not a command line.
  printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

export HIVE_CONF_DIR="$HIVE_HOME/conf"
umask 077
cat > "$HIVE_CONF_DIR/hive-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>org.postgresql.Driver</value></property>
  <property><name>javax.jdo.option.ConnectionURL</name><value>$(xml_escape "$DB_URL")</value></property>
  <property><name>javax.jdo.option.ConnectionUserName</name><value>$(xml_escape "$DB_USER")</value></property>
  <property><name>javax.jdo.option.ConnectionPassword</name><value>$(xml_escape "$HIVE_METASTORE_DB_PASSWORD")</value></property>
  <property><name>metastore.warehouse.dir</name><value>$(xml_escape "$WAREHOUSE")</value></property>
  <property><name>hive.metastore.warehouse.dir</name><value>$(xml_escape "$WAREHOUSE")</value></property>
  <!-- The warehouse volume is shared with Spark (other users, group 0): group-writable. -->
  <property><name>fs.permissions.umask-mode</name><value>002</value></property>
  <property><name>metastore.thrift.port</name><value>9083</value></property>
  <!-- Spark's Hive client does not call the notification API; keep it open to it. -->
  <property><name>hive.metastore.event.db.notification.api.auth</name><value>false</value></property>
</configuration>
XML
umask 022

# Creates the schema on the first start, upgrades it after a Hive upgrade, and
# does nothing otherwise.
"$HIVE_HOME/bin/schematool" -dbType postgres -initOrUpgradeSchema

export HADOOP_CLIENT_OPTS="${HADOOP_CLIENT_OPTS:-} -Xmx${HIVE_METASTORE_HEAP:-1G}"
exec "$HIVE_HOME/bin/hive" --skiphadoopversion --skiphbasecp --service metastore
