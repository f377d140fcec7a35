"""The at-scale topology in docker-compose.yaml, checked without a Docker engine.

`docker-compose config` (Debian's docker-compose 1.29; CI installs it) validates the
file and resolves its anchors and ``${VARS}``; the tests read the resolved model,
so they see what the engine would run. The Airflow image's entrypoint and init
script run here for real against a throwaway SQLite Airflow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKER = ROOT / "docker"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
    "airflow-worker-streaming",
}
SERVICES = AIRFLOW_SERVICES | {
    "postgres",
    "celery-broker",
    "feast-online-store",
    "kafka",
    "hive-metastore",
    "hiveserver2",
    "mlflow",
}
# Environment keys that hold a credential, and URLs that carry one (scheme://user:password@host).
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|REDISCLI_AUTH", re.IGNORECASE)
URL_CREDENTIAL = re.compile(r"://[^/:@\s]*:([^@\s]+)@")


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(
            "docker-compose is not installed: `apt-get install -y docker-compose` (scripts/test.sh installs it)"
        )
    return exe


def _example_env() -> dict[str, str]:
    """The variables .env.example documents, each with its placeholder value."""
    values = {}
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _compose_config(env_file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`docker-compose config` with only ``env_file``'s variables (none from this shell)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [_docker_compose(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def sentinel_env() -> dict[str, str]:
    """Every documented variable set to a unique sentinel, written as an env file."""
    return {name: f"sentinel-{name.lower().replace('_', '-')}" for name in _example_env()}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory, sentinel_env) -> dict:
    """The compose model as docker-compose resolves it, with sentinel values for the variables."""
    tmp = tmp_path_factory.mktemp("compose")
    env_file = tmp / "sentinel.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sentinel_env.items()))
    result = _compose_config(env_file, tmp)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(env) if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def test_compose_config_passes_with_the_documented_env_example(tmp_path):
    result = _compose_config(ENV_EXAMPLE, tmp_path)
    assert result.returncode == 0, result.stderr


def test_compose_config_refuses_a_missing_password_and_names_it(tmp_path):
    env_file = tmp_path / "incomplete.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in _example_env().items() if k != "POSTGRES_PASSWORD"))
    result = _compose_config(env_file, tmp_path)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


def test_every_service_of_the_topology_exists(resolved):
    assert set(resolved["services"]) >= SERVICES, SERVICES - set(resolved["services"])


def test_every_airflow_component_runs_the_celery_executor_on_postgres_and_redis(resolved):
    for name in AIRFLOW_SERVICES:
        env = _env(resolved["services"][name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert "@celery-broker:6379/" in env["AIRFLOW__CELERY__BROKER_URL"], name


def test_airflow_components_run_their_own_commands(resolved):
    services = resolved["services"]
    assert services["airflow-apiserver"]["command"] == ["api-server"]
    assert services["airflow-scheduler"]["command"] == ["scheduler"]
    assert services["airflow-dag-processor"]["command"] == ["dag-processor"]
    assert services["airflow-triggerer"]["command"] == ["triggerer"]
    # The stock entrypoint runs `bash <script>` after waiting for the database.
    assert services["airflow-init"]["command"] == ["bash", "/usr/local/bin/integrity-init"]


def test_gpu_worker_listens_only_on_queue_gpu_one_task_at_a_time_with_an_nvidia_gpu(resolved):
    gpu = resolved["services"]["airflow-worker-gpu"]
    assert gpu["command"][:2] == ["celery", "worker"]
    command = " ".join(gpu["command"])
    assert re.search(r"--queues gpu(\s|$)", command), command
    assert re.search(r"--concurrency 1(\s|$)", command), command
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices), devices
    assert gpu["build"]["args"]["REQUIREMENTS"] == "gpu.txt"


def test_default_worker_takes_the_default_queue_without_tensorflow_or_a_gpu(resolved):
    cpu = resolved["services"]["airflow-worker"]
    assert "--queues default" in " ".join(cpu["command"])
    assert "deploy" not in cpu
    assert cpu["build"]["args"]["REQUIREMENTS"] == "common.txt"  # what it resolves to: test_requirements.py
    assert resolved["services"]["airflow-worker-gpu"]["image"] != cpu["image"]


def _worker_queues(service: dict) -> set[str]:
    command = service["command"]
    return set(command[command.index("--queues") + 1].split(","))


def test_every_queue_a_dag_task_names_has_a_worker(resolved):
    """A task on a queue no worker serves stays queued for ever: the streaming job would never start."""
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(ROOT / "dags"), safe_mode=False)
    assert not dagbag.import_errors, dagbag.import_errors
    named = {task.queue for dag in dagbag.dags.values() for task in dag.tasks}
    served = {
        queue
        for name, service in resolved["services"].items()
        if name.startswith("airflow-worker")
        for queue in _worker_queues(service)
    }
    assert {"default", "gpu", "streaming"} <= named
    assert named <= served, f"no worker serves {sorted(named - served)}"


def test_the_streaming_worker_hosts_one_job_with_the_kafka_source_of_the_image(resolved):
    from integrity_risk.streaming.launcher import JARS_ENV, STREAMING_QUEUE

    worker = resolved["services"]["airflow-worker-streaming"]
    assert _worker_queues(worker) == {STREAMING_QUEUE}
    assert re.search(r"--concurrency 1(\s|$)", " ".join(worker["command"]))
    assert "kafka" in worker["depends_on"]
    # The image fetches Spark's Kafka source from the pom the embedded default fetches too,
    # and names the jars to the job.
    dockerfile = (DOCKER / "airflow" / "Dockerfile").read_text()
    assert "COPY docker/spark-streaming/pom.xml /build/pom.xml" in dockerfile
    assert "COPY --from=streaming-jars /build/lib /opt/spark-streaming-jars" in dockerfile
    assert f"{JARS_ENV}=/opt/spark-streaming-jars/*.jar" in dockerfile


def test_airflow_image_extends_the_pinned_airflow_and_installs_the_project_with_constraints():
    dockerfile = (DOCKER / "airflow" / "Dockerfile").read_text()
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11" in dockerfile
    assert re.search(
        r"-r /opt/airflow/requirements/\$\{REQUIREMENTS\}\s+\\\s+-c /opt/airflow/requirements/constraints.txt",
        dockerfile,
    )
    for folder in ("dags", "plugins", "include", "feature_repo"):
        assert f"COPY --chown=airflow:0 {folder} /opt/airflow/{folder}" in dockerfile, folder
    # The library is installed as a package; the local tooling never reaches the image.
    assert "COPY --chown=airflow:0 src /opt/integrity-src/src" in dockerfile
    assert "pip install --no-cache-dir --no-deps /opt/integrity-src" in dockerfile
    assert "COPY --chown=airflow:0 tooling" not in dockerfile and "PYTHONPATH" not in dockerfile
    gpu_requirements = (ROOT / "requirements" / "gpu.txt").read_text()
    assert "tensorflow[and-cuda]" in gpu_requirements


def test_workers_reach_hiveserver2_mlflow_and_feast_production_through_connections_and_one_profile(resolved):
    services = resolved["services"]
    for name in ("airflow-worker", "airflow-worker-gpu", "airflow-scheduler"):
        env = _env(services[name])
        assert env["AIRFLOW_CONN_HIVESERVER2_DEFAULT"] == "hiveserver2://hiveserver2:10000/default"
        assert env["INTEGRITY_FEAST_PROFILE"] == "production"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert "airflow_conn_integrity_pseudonymization" in {s["source"] for s in services[name]["secrets"]}
    targets = {
        int(p["target"]) if isinstance(p, dict) else int(str(p).split(":")[-1])
        for p in services["hiveserver2"]["ports"]
    }
    assert 10000 in targets


def test_the_airflow_components_reach_the_kafka_service_through_one_connection(resolved):
    import json

    services = resolved["services"]
    kafka = services["kafka"]
    env = _env(kafka)
    # KRaft, one node: it advertises the address the other services resolve.
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    # Its log survives a restart of the container: a named volume at the data folder.
    assert any(
        (v["target"] if isinstance(v, dict) else v.split(":")[1]) == "/var/lib/kafka/data" for v in kafka["volumes"]
    )
    assert kafka["image"].startswith("apache/kafka:4.")
    for name in AIRFLOW_SERVICES:
        connection = json.loads(_env(services[name])["AIRFLOW_CONN_KAFKA_DEFAULT"])
        assert connection["conn_type"] == "kafka", name
        assert connection["extra"]["bootstrap.servers"] == "kafka:9092", name
        assert connection["extra"]["enable.idempotence"] == "true", name


def test_the_feast_production_profile_finds_every_variable_it_needs(resolved):
    profile = (ROOT / "feature_repo" / "feature_store.production.yaml").read_text()
    needed = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", profile))
    assert needed, "feature_store.production.yaml names no ${VARS}; has the profile moved?"
    for name in ("airflow-worker", "airflow-worker-gpu"):
        env = _env(resolved["services"][name])
        assert needed <= set(env), f"{name} lacks {sorted(needed - set(env))}"


def test_no_volume_is_shared_by_the_workers_but_the_storage_root_and_the_warehouse(resolved):
    """The Feast registry is in PostgreSQL; what crosses tasks goes to the storage root."""
    services = resolved["services"]
    for name in ("airflow-worker", "airflow-worker-gpu"):
        env = _env(services[name])
        assert env["INTEGRITY_FEAST_REGISTRY_URL"].startswith("postgresql+psycopg://feast:")
        assert env["INTEGRITY_FEAST_REGISTRY_URL"].endswith("@postgres:5432/feast")
        volumes = {str(v).split(":")[0] for v in services[name]["volumes"]}
        assert volumes <= {"airflow-logs", "airflow-auth", "hive-warehouse", "integrity-storage"}, volumes
    assert "integrity-state" not in resolved.get("volumes", {})


def test_feast_online_store_is_a_redis_apart_from_the_celery_broker(resolved):
    env = _env(resolved["services"]["airflow-worker"])
    online_host = env["INTEGRITY_REDIS_URL"].split(":")[0]
    assert online_host == "feast-online-store"
    assert resolved["services"][online_host]["image"].startswith("redis:")
    assert "@celery-broker:" in env["AIRFLOW__CELERY__BROKER_URL"]


def test_mlflow_server_keeps_runs_in_postgres_and_artifacts_on_a_volume(resolved):
    mlflow = resolved["services"]["mlflow"]
    assert _env(mlflow)["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:")
    # Under the storage root, like everything else that outlives a task.
    assert "--artifacts-destination=/opt/integrity/storage/mlflow-artifacts" in mlflow["command"]
    assert any(v.startswith("integrity-storage:/opt/integrity/storage") for v in mlflow["volumes"])


def test_services_wait_for_healthy_dependencies_that_have_healthchecks(resolved):
    services = resolved["services"]
    for name, service in services.items():
        for dep, rule in (service.get("depends_on") or {}).items():
            condition = rule["condition"]
            if dep == "airflow-init":
                assert condition == "service_completed_successfully", (name, dep)
            else:
                assert condition == "service_healthy", (name, dep)
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"
    for name in SERVICES - {"airflow-init"}:
        assert "healthcheck" in services[name], name
    workers = set(services["airflow-worker-gpu"]["depends_on"])
    assert {"hiveserver2", "mlflow", "feast-online-store", "airflow-init"} <= workers


def test_no_credential_in_the_resolved_topology_comes_from_anywhere_but_the_env_file(resolved, sentinel_env):
    """With every documented variable set to a sentinel, each credential must be a sentinel:
    a literal password in docker-compose.yaml would show up as itself."""
    sentinels = set(sentinel_env.values())
    found = 0
    for name, service in resolved["services"].items():
        for key, raw in _env(service).items():
            value = str(raw)
            for password in URL_CREDENTIAL.findall(value):
                found += 1
                assert password in sentinels, f"{name}: {key} carries a literal password in its URL"
            if SECRET_KEY.search(key) and not key.endswith("_FILE"):
                found += 1
                assert value in sentinels, f"{name}: {key} is a literal, not a ${{VAR}} from .env"
            assert "password=" not in value or value.split("password=")[1] in sentinels, (name, key)
    assert found >= 10, "the scan found too few credentials to be looking at the right fields"


def test_committed_files_hold_placeholders_only():
    for name, value in _example_env().items():
        assert value.startswith("change-me"), f".env.example: {name} must be a change-me placeholder"
    tracked = subprocess.run(
        ["git", "ls-files", "--", ".env", "docker/secrets"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(tracked) <= {"docker/secrets/README.md", "docker/secrets/.gitignore"}, tracked


def test_entrypoint_turns_the_docker_secret_into_the_pseudonymization_connection(tmp_path):
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "airflow_conn_integrity_pseudonymization").write_text(
        json.dumps({"conn_type": "generic", "password": "k3y-fr0m-the-secret"}) + "\n"
    )
    probe = tmp_path / "probe.py"
    # Airflow's own parsing of AIRFLOW_CONN_*; the probe reports a match, not the key.
    # The pipelines' own reader of the key; the probe reports a match, never the key.
    probe.write_text(
        "from integrity_risk.features.pseudonymize import get_key\n"
        "print('key matches' if get_key() == b'k3y-fr0m-the-secret' else 'key differs')\n"
    )
    env = dict(os.environ, INTEGRITY_SECRETS_DIR=str(secrets_dir), INTEGRITY_NEXT_ENTRYPOINT=sys.executable)
    env.pop("AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION", None)
    env.pop("INTEGRITY_ALLOW_DEMO_KEY", None)
    result = subprocess.run(
        ["bash", str(DOCKER / "airflow" / "entrypoint.sh"), str(probe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("key matches")
    assert "k3y-fr0m-the-secret" not in result.stdout + result.stderr


def _airflow_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "airflow"
    home.mkdir()
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    env.pop("AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION", None)
    return env


def test_init_refuses_to_start_without_the_pseudonymization_secret(tmp_path):
    result = subprocess.run(
        ["bash", str(DOCKER / "airflow" / "init.sh")],
        env=_airflow_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "airflow_conn_integrity_pseudonymization is missing" in result.stderr
    assert not (tmp_path / "airflow" / "airflow.db").exists(), "init migrated before checking its secrets"


def test_init_migrates_the_database_and_creates_the_hiveserver2_and_gpu_pools(tmp_path):
    env = _airflow_env(tmp_path)
    env["AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"] = json.dumps({"conn_type": "generic", "password": "x"})
    env["INTEGRITY_POOL_HIVESERVER2_SLOTS"] = "3"
    result = subprocess.run(
        ["bash", str(DOCKER / "airflow" / "init.sh")], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        pools = dict(db.execute("SELECT pool, slots FROM slot_pool"))
    assert pools["hiveserver2"] == 3
    assert pools["gpu"] == 1


def test_metastore_entrypoint_writes_the_password_into_its_private_config_never_a_command_line(tmp_path):
    hive_home = tmp_path / "hive"
    (hive_home / "bin").mkdir(parents=True)
    (hive_home / "conf").mkdir()
    calls = tmp_path / "calls.txt"
    # Stand-ins for schematool and hive record how they were called (the JVM is not needed here).
    for tool in ("schematool", "hive"):
        script = hive_home / "bin" / tool
        script.write_text(f'#!/usr/bin/env bash\necho "{tool} $* $HADOOP_CLIENT_OPTS" >> "{calls}"\n')
        script.chmod(0o755)
    password = 'p&ss<w"rd>'
    env = dict(os.environ, HIVE_HOME=str(hive_home), HIVE_METASTORE_DB_PASSWORD=password)
    result = subprocess.run(
        ["bash", str(DOCKER / "hive-metastore" / "entrypoint.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    site = hive_home / "conf" / "hive-site.xml"
    properties = {p.findtext("name"): p.findtext("value") for p in ElementTree.parse(site).getroot()}
    assert properties["javax.jdo.option.ConnectionPassword"] == password
    assert properties["javax.jdo.option.ConnectionURL"] == "jdbc:postgresql://postgres:5432/metastore"
    assert site.stat().st_mode & 0o077 == 0, "hive-site.xml holds a password: only its owner may read it"
    recorded = calls.read_text()
    assert "schematool -dbType postgres -initOrUpgradeSchema" in recorded
    assert "hive --skiphadoopversion --skiphbasecp --service metastore" in recorded
    assert password not in recorded + result.stdout + result.stderr
