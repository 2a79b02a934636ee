"""Static checks of the Docker stack, for machines without a Docker engine.

usage: check-stack.py <compose-schema.json> <dir with our binaries, built with any profile>

- docker-compose.yml is valid against the Compose specification's JSON schema;
- every environment variable the compose file gives one of our services is one its --help
  accepts, and the binary it runs is one of ours;
- topics, partitions, ports, groups and paths agree between the compose file, the binaries'
  defaults, scripts/demo.sh and the Dockerfile;
- images are pinned, from the expected publishers, Elasticsearch and Kibana match the client
  crate's version; host ports bind to 127.0.0.1 (a scaled service's replicas on a range);
  the sinks run two replicas each; every long-running service has a healthcheck and every
  dependency a condition; memory limits, times replicas, fit a 16 GB laptop;
- what the images' own sources showed: Kafka's cluster ID is canonical, the namenode formats
  with a fixed cluster ID, healthchecks start their JVMs with small heaps, Hadoop's
  amd64-only image says its platform, Kibana's import is judged by its body, es-sink logs in as
  a user of its own with only what it needs, and scripts/stack.sh waits for each set-up job on
  its own and runs Hive files mounted in the container.

Prints one line per failed check and exits 1 if any failed.
"""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUR_SERVICES = {"producer-api", "web", "hdfs-consumer", "es-sink", "eraser"}
# The binary each of our services runs, where its name differs.
BINARY = {"eraser": "erase"}
ALLOWED_IMAGES = (
    "apache/kafka:",
    "apache/hadoop:",
    "apache/hive:",
    "docker.elastic.co/elasticsearch/elasticsearch:",
    "docker.elastic.co/kibana/kibana:",
    "web-events-pipeline:",
)
MEMORY_BUDGET_BYTES = 14 * 1024**3

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def help_of(binary_dir, binary):
    """Environment variables and their defaults, from `<binary> --help`."""
    text = subprocess.run(
        [str(binary_dir / binary), "--help"], capture_output=True, text=True, check=True
    ).stdout
    variables = {}
    # clap prints "[env: NAME=value]" ("[env: NAME]" for hidden values), then "[default: value]".
    pattern = r"\[env: ([A-Z0-9_]+)(?:=[^\]]*)?\](?:\s*\[default: ([^\]]*)\])?"
    for name, default in re.findall(pattern, text):
        variables[name] = default or None
    return variables


def port_of(address):
    tail = (address or ":0").rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def replicas(service):
    """How many containers of a service run."""
    return int(service.get("deploy", {}).get("replicas", 1))


def memory_bytes(limit):
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", str(limit).lower()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def main():
    schema_path, binary_dir = Path(sys.argv[1]), Path(sys.argv[2])
    compose_text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(compose_text)

    # The schema.
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    for error in validator.iter_errors(compose):
        path = "/".join(str(p) for p in error.absolute_path)
        check(False, f"compose schema: {path}: {error.message}")

    services = compose["services"]
    helps = {name: help_of(binary_dir, BINARY.get(name, name)) for name in OUR_SERVICES}

    # Our services: the binary, and only variables it accepts.
    for name in OUR_SERVICES:
        check(name in services, f"{name}: missing from docker-compose.yml")
        service = services.get(name, {})
        binary = BINARY.get(name, name)
        check(service.get("command", [None])[0] == binary, f"{name}: command does not run {binary}")
        for variable in service.get("environment", {}):
            check(variable in helps[name], f"{name}: {variable} is not a setting of {name} --help")

    env = {name: services[name].get("environment", {}) for name in OUR_SERVICES}

    # Topics: names and shape agree with the binaries, the demo and the topic job.
    init = "\n".join(services["kafka-init"]["command"]).replace("$$", "$")
    topic = helps["producer-api"]["KAFKA_TOPIC"]
    dlq = helps["es-sink"]["DEAD_LETTER_TOPIC"]
    for name in ("producer-api", "hdfs-consumer", "es-sink", "eraser"):
        check(env[name].get("KAFKA_TOPIC") == topic, f"{name}: KAFKA_TOPIC is not {topic}")
        check(helps[name]["KAFKA_TOPIC"] == topic, f"{name}: default topic is not {topic}")
        bootstrap = env[name].get("KAFKA_BOOTSTRAP_SERVERS", "")
        brokers = {b.split(":")[0] for b in bootstrap.split(",")}
        check(
            brokers == {"kafka-1", "kafka-2", "kafka-3"},
            f"{name}: KAFKA_BOOTSTRAP_SERVERS does not name the three brokers",
        )
        for broker in bootstrap.split(","):
            check(broker.endswith(":19092"), f"{name}: {broker} is not the internal listener")
    check(
        re.search(rf"--topic {topic}\s*\\?\s*--partitions 3 --replication-factor 2", init),
        f"kafka-init: {topic} is not created with 3 partitions and replication factor 2",
    )
    check(f"--topic {dlq}" in init, f"kafka-init: the dead-letter topic {dlq} is not created")
    erased = helps["es-sink"]["ERASED_TOPIC"]
    for name in ("hdfs-consumer", "es-sink", "eraser"):
        check(helps[name]["ERASED_TOPIC"] == erased, f"{name}: default ERASED_TOPIC is not {erased}")
    check(
        re.search(rf"--topic {erased}\s*\\?\s*--partitions[^\n]*(\n[^\n]*)?--config cleanup\.policy=compact,delete", init),
        f"kafka-init: the erased ids' topic {erased} is not created compacted",
    )
    check(env["es-sink"].get("DEAD_LETTER_TOPIC") == dlq, "es-sink: DEAD_LETTER_TOPIC differs")
    # Retention: the topics and the landing keep a click as long as the search cluster does.
    retention = env["es-sink"].get("RETENTION", "")
    check(env["hdfs-consumer"].get("RETENTION") == retention, "hdfs-consumer: RETENTION differs from es-sink's")
    days = re.fullmatch(r"(\d+)d", retention)
    check(days, f"es-sink: RETENTION {retention!r} is not a number of days")
    if days:
        ms = int(days.group(1)) * 86_400_000
        for name in (topic, dlq, erased):
            check(
                re.search(rf"--topic {name}\s*\\?\s*--partitions[^\n]*(\n[^\n]*)?--config retention\.ms={ms}\b", init),
                f"kafka-init: {name} does not keep records {retention} (retention.ms={ms})",
            )
    demo = (ROOT / "scripts/demo.sh").read_text()
    check(f'KAFKA_TOPIC="${{KAFKA_TOPIC:-{topic}}}"' in demo, "demo.sh: default topic differs")
    check('--topic "$KAFKA_TOPIC:3:2"' in demo, "demo.sh: topic not 3 partitions, RF 2")
    check('--topic "$DEAD_LETTER_TOPIC:1:2"' in demo, "demo.sh: dead-letter topic not created")
    check('--topic "$ERASED_TOPIC:1:2"' in demo, "demo.sh: erased ids' topic not created")
    check(f'ERASED_TOPIC="${{ERASED_TOPIC:-{erased}}}"' in demo, "demo.sh: erased ids' topic differs")
    check(f'DEAD_LETTER_TOPIC="${{DEAD_LETTER_TOPIC:-{dlq}}}"' in demo, "demo.sh: DLQ differs")
    common_kafka = (ROOT / "common/src/kafka/mod.rs").read_text()
    check("DEMO_PARTITIONS: i32 = 3;" in common_kafka, "common: DEMO_PARTITIONS is not 3")
    check("DEMO_REPLICATION_FACTOR: i32 = 2;" in common_kafka, "common: replication factor not 2")
    for name, variable in (("hdfs-consumer", "KAFKA_GROUP_ID"), ("es-sink", "KAFKA_GROUP_ID")):
        check(
            env[name].get(variable) == helps[name][variable],
            f"{name}: {variable} differs from its default",
        )

    # The sinks run scaled out, as users do: several processes in one group.
    for name in ("hdfs-consumer", "es-sink"):
        check(replicas(services[name]) >= 2, f"{name}: runs fewer than two replicas")

    # Ports: published = listened = the binaries' defaults = the demo's defaults.
    listen = {
        "producer-api": ("LISTEN_ADDR", "API_PORT"),
        "web": ("LISTEN_ADDR", "WEB_PORT"),
        "hdfs-consumer": ("ADMIN_ADDR", "HDFS_CONSUMER_ADMIN_PORT"),
        "es-sink": ("ADMIN_ADDR", "ES_SINK_ADMIN_PORT"),
    }
    for name, (variable, demo_variable) in listen.items():
        port = port_of(env[name].get(variable, ":0"))
        default_port = port_of(helps[name][variable])
        check(port == default_port, f"{name}: listens on {port}, default is {default_port}")
        count = replicas(services[name])
        if count == 1:
            check(
                services[name].get("ports") == [f"127.0.0.1:{port}:{port}"],
                f"{name}: not published as 127.0.0.1:{port}:{port}",
            )
        else:
            # Each replica takes one host port of a range as long as the replica count.
            published = services[name].get("ports", [""])
            match = re.fullmatch(r"127\.0\.0\.1:(\d+)-(\d+):(\d+)", str(published[0]))
            check(
                len(published) == 1
                and match
                and int(match.group(2)) - int(match.group(1)) + 1 == count
                and int(match.group(3)) == port,
                f"{name}: {count} replicas not published on a range of {count} host ports to {port}",
            )
        check(
            f'{demo_variable}="${{{demo_variable}:-{port}}}"' in demo,
            f"demo.sh: {demo_variable} does not default to {port}",
        )
        check(
            f'{demo_variable}="${{{demo_variable}:-{port}}}"' in demo,
            f"demo.sh: {demo_variable} does not default to {port}",
        )
        health = " ".join(services[name]["healthcheck"]["test"])
        check(f"localhost:{port}/" in health, f"{name}: healthcheck does not ask port {port}")
    api_port = port_of(env["producer-api"].get("LISTEN_ADDR", ""))
    web_port = port_of(env["web"].get("LISTEN_ADDR", ""))
    check(
        env["web"].get("API_BASE_URL", "") == f"http://localhost:{api_port}",
        "web: API_BASE_URL is not the collector as the host sees it",
    )
    origins = env["producer-api"].get("CORS_ALLOWED_ORIGINS", "").split(",")
    check(f"http://localhost:{web_port}" in origins, "producer-api: the page's origin is not allowed")

    # Paths: the landing root is the one created in HDFS and the one the Hive table reads.
    landing = env["hdfs-consumer"].get("LANDING_URL", "")
    match = re.fullmatch(r"hdfs://namenode:8020(/.+)", landing)
    check(match, f"hdfs-consumer: LANDING_URL {landing} is not on the compose namenode")
    if match:
        root = match.group(1)
        # Compose turns "$$" into "$" before the shell sees it.
        hdfs_init = "\n".join(services["hdfs-init"]["command"]).replace("$$", "$")
        check(
            f"fs=hdfs://namenode:8020" in hdfs_init and f"-mkdir -p $fs{root}/{topic}" in hdfs_init,
            f"hdfs-init: {root}/{topic} not created on the namenode",
        )
    core_site = (ROOT / "compose/hive/core-site.xml").read_text()
    check("<value>hdfs://namenode:8020</value>" in core_site, "Hive's core-site.xml: fs.defaultFS")

    # The lake: Parquet, and a table the consumer keeps in the metastore service HiveServer2
    # reads, with nobody else making it or finding its hours (no DDL job, no discovery, no MSCK).
    check(env["hdfs-consumer"].get("LANDING_FORMAT") == "parquet", "hdfs-consumer: LANDING_FORMAT is not parquet")
    metastore = services.get("metastore", {})
    check(metastore.get("environment", {}).get("SERVICE_NAME") == "metastore", "no metastore service")
    check(metastore.get("hostname") == "metastore", "metastore: not reachable as metastore")
    metastore_uri = "thrift://metastore:9083"
    check(
        f"-Dhive.metastore.uris={metastore_uri}"
        in services["hiveserver2"]["environment"].get("SERVICE_OPTS", ""),
        "hiveserver2: does not use the metastore service",
    )
    check(
        env["hdfs-consumer"].get("HIVE_METASTORE_URIS") == metastore_uri,
        "hdfs-consumer: does not keep the table in the metastore service",
    )
    check(
        "metastore" not in services["hdfs-consumer"].get("depends_on", {}),
        "hdfs-consumer: waits for the metastore, which must never hold landing up",
    )
    check("hive-init" not in services, "hive-init: a second maker of the consumer's table")
    metastore_site = (ROOT / "compose/hive/metastore-site.xml").read_text()
    check(
        "metastore.partition.management.task.frequency" not in metastore_site,
        "metastore-site.xml: partition discovery runs beside the consumer's registration",
    )
    stack_sh = (ROOT / "scripts/stack.sh").read_text()
    check("discover-partitions" not in stack_sh and "MSCK" not in stack_sh, "stack.sh: runs MSCK itself")

    # Elasticsearch: the index prefix the data view reads, the password the sink uses.
    prefix = env["es-sink"].get("ES_INDEX_PREFIX", "")
    check(prefix == helps["es-sink"]["ES_INDEX_PREFIX"], "es-sink: ES_INDEX_PREFIX differs")
    objects = [json.loads(line) for line in (ROOT / "compose/kibana/web-events.ndjson").open()]
    titles = [o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"]
    check(titles == [f"{prefix}-*"], f"Kibana data view is {titles}, not {prefix}-*")
    es_init = services["elasticsearch-init"]
    sink_user = env["es-sink"].get("ES_USERNAME", "")
    check(sink_user not in ("", "elastic"), "es-sink: logs in as the superuser")
    check(
        env["es-sink"].get("ES_PASSWORD", "") == es_init["environment"].get("ES_SINK_PASSWORD"),
        "es-sink: ES_PASSWORD is not the one elasticsearch-init gives its user",
    )
    init_script = "\n".join(es_init["command"])
    check(
        f"/_security/user/{sink_user}" in init_script and '\\"roles\\":[\\"web_events_sink\\"]' in init_script,
        f"elasticsearch-init: does not make the user {sink_user} with the role web_events_sink",
    )
    role = re.search(r"_security/role/web_events_sink -d '(\{.*?\})'", init_script, re.S)
    check(role, "elasticsearch-init: no role web_events_sink")
    if role:
        role = json.loads(role.group(1))
        check(
            role["cluster"] == ["monitor"]
            and role["indices"] == [{"names": [f"{prefix}-*"], "privileges": ["create_index", "index", "read", "delete", "delete_index"]}],
            f"elasticsearch-init: web_events_sink grants more or less than the sink needs: {role}",
        )
    # The index template: put once by a job as the one user allowed to, never by the sinks.
    template_job = services.get("es-template", {})
    template_env = template_job.get("environment", {})
    check(template_job.get("command", [None])[0] == "es-sink", "es-template: does not run es-sink")
    for variable in template_env:
        check(variable in helps["es-sink"], f"es-template: {variable} is not a setting of es-sink --help")
    check(template_env.get("ES_TEMPLATE") == "install-and-exit", "es-template: does not put the template and stop")
    check(env["es-sink"].get("ES_TEMPLATE") == "installed", "es-sink: puts the index template itself")
    check(
        services["es-sink"].get("depends_on", {}).get("es-template"),
        "es-sink: starts before its index template is in place",
    )
    template_user = template_env.get("ES_USERNAME", "")
    template_role = re.search(r"_security/role/web_events_template -d '(\{.*?\})'", init_script, re.S)
    check(
        template_user not in ("", "elastic", sink_user)
        and f"/_security/user/{template_user}" in init_script
        and template_role
        and json.loads(template_role.group(1)).get("cluster") == ["manage_index_templates"],
        "elasticsearch-init: no template user of its own with only the template privilege",
    )
    check(
        services["es-sink"].get("depends_on", {}).get("elasticsearch-init"),
        "es-sink: starts before its user exists",
    )
    check(
        env["es-sink"].get("ES_URL", "") == "http://elasticsearch:9200",
        "es-sink: ES_URL is not the compose Elasticsearch",
    )

    # The results page: reads the same index as the sink, as a user that may only read it, and
    # each stage's admin endpoints where the services serve them.
    web = env["web"]
    check(web.get("ES_URL") == env["es-sink"].get("ES_URL"), "web: ES_URL is not the sink's cluster")
    check(web.get("ES_INDEX_PREFIX") == prefix, "web: ES_INDEX_PREFIX is not the sink's")
    results_user = web.get("ES_USERNAME", "")
    check(results_user not in ("", "elastic", sink_user), "web: reads as a user that may write")
    check(
        web.get("ES_PASSWORD", "") == es_init["environment"].get("WEB_RESULTS_PASSWORD"),
        "web: ES_PASSWORD is not the one elasticsearch-init gives its user",
    )
    check(
        f"/_security/user/{results_user}" in init_script
        and '\\"roles\\":[\\"web_events_results\\"]' in init_script,
        f"elasticsearch-init: does not make the user {results_user} with the role web_events_results",
    )
    results_role = re.search(r"_security/role/web_events_results -d '(\{.*?\})'", init_script, re.S)
    check(
        results_role
        and json.loads(results_role.group(1))
        == {"indices": [{"names": [f"{prefix}-*"], "privileges": ["read"]}]},
        "elasticsearch-init: web_events_results grants more than reading the daily indices",
    )
    check(
        services["web"].get("depends_on", {}).get("elasticsearch-init"),
        "web: starts before its user exists",
    )
    for variable, service, port_variable in [
        ("COLLECTOR_ADMIN_URL", "producer-api", "METRICS_ADDR"),
        ("HDFS_CONSUMER_ADMIN_URLS", "hdfs-consumer", "ADMIN_ADDR"),
        ("ES_SINK_ADMIN_URLS", "es-sink", "ADMIN_ADDR"),
    ]:
        port = env[service].get(port_variable, "").rsplit(":", 1)[-1]
        check(
            web.get(variable) == f"http://{service}:{port}",
            f"web: {variable} is not {service}'s {port_variable}",
        )

    # No demo secret: every password, key and token is a required variable (no default), and
    # stack.sh makes each of them.
    required = set()
    for name, service in services.items():
        for variable, value in (service.get("environment") or {}).items():
            text = str(value)
            secret = re.search(r"PASSWORD|TOKEN|API_KEY|SECRET", variable)
            for reference in re.findall(r"\$\{([^}]*)\}", text):
                check(":-" not in reference and "-" != reference[-1:], f"{name}: {variable} has a default ({reference})")
                if ":?" in reference:
                    required.add(reference.split(":?")[0])
            if secret:
                check(
                    re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", text) is not None,
                    f"{name}: {variable} is not a required variable",
                )
    listed_secrets = re.search(r"^SECRETS=\(([^)]*)\)", stack_sh, re.M)
    check(
        listed_secrets and set(listed_secrets.group(1).split()) == required,
        f"stack.sh: SECRETS does not make every required variable {sorted(required)}",
    )
    check(
        web.get("FORGET_TOKEN") and web.get("FORGET_TOKEN") == env["eraser"].get("RESULTS_TOKEN"),
        "web: FORGET_TOKEN is not the eraser's RESULTS_TOKEN",
    )
    # HDFS: its web port not published, the landing owned by the sink's user, 0750.
    for name in ("namenode", "datanode"):
        check(not services[name].get("ports"), f"{name}: a port is published (WebHDFS)")
    hdfs_init = "\n".join(services["hdfs-init"]["command"])
    check("-chown -R app:hive $$fs/data/web-events" in hdfs_init, "hdfs-init: the landing is not app's")
    check(
        "-chmod 750 $$fs/data/web-events $$fs/data/web-events/select-color" in hdfs_init
        and "1777 $$fs/data" not in hdfs_init,
        "hdfs-init: the landing is not 0750",
    )
    check(
        services["namenode"]["environment"].get("HDFS-SITE.XML_dfs.permissions.enabled") == "true",
        "namenode: HDFS permissions are off",
    )

    # Images: pinned, from the expected publishers, versions matching the clients.
    lock = (ROOT / "Cargo.lock").read_text()
    es_crate = re.search(r'name = "elasticsearch"\nversion = "(\d+)\.(\d+)\.', lock).groups()
    versions = {}
    for name, service in services.items():
        image = service.get("image", "")
        check(image.startswith(ALLOWED_IMAGES), f"{name}: image {image!r} is not an expected one")
        tag = image.rsplit(":", 1)[-1]
        check(tag and tag != "latest" and ":" in image, f"{name}: image {image} is not pinned")
        versions[name] = tag
    check(
        tuple(versions["elasticsearch"].split(".")[:2]) == es_crate,
        f"Elasticsearch {versions['elasticsearch']} does not match the client crate {es_crate}",
    )
    check(versions["kibana"] == versions["elasticsearch"], "Kibana and Elasticsearch differ")
    dockerfile = (ROOT / "Dockerfile").read_text()
    rust_version = re.search(r'rust-version = "([\d.]+)"', (ROOT / "Cargo.toml").read_text())
    check(
        f"FROM rust:{rust_version.group(1)}-" in dockerfile,
        "Dockerfile: the Rust image is not the workspace's rust-version",
    )
    check(re.search(r"^USER (?!root)\w+", dockerfile, re.M), "Dockerfile: runs as root")
    for name in OUR_SERVICES:
        binary = BINARY.get(name, name)
        check(f"/target/release/{binary}" in dockerfile, f"Dockerfile: {binary} is not copied")

    # What the images' own sources showed.
    cluster_id = services["kafka-1"]["environment"]["CLUSTER_ID"]
    try:
        raw = base64.urlsafe_b64decode(cluster_id + "==")
        canonical = len(raw) == 16 and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == cluster_id
    except ValueError:
        canonical = False
    check(canonical, f"Kafka CLUSTER_ID {cluster_id} is not a canonical base64url UUID")
    check(
        services["namenode"]["environment"].get("ENSURE_NAMENODE_CLUSTERID"),
        "namenode: formats with a new cluster ID when recreated (ENSURE_NAMENODE_CLUSTERID)",
    )
    small_heaps = {
        "kafka-1": "KAFKA_HEAP_OPTS=-Xmx",
        "namenode": "HADOOP_CLIENT_OPTS=-Xmx",
        "datanode": "HADOOP_CLIENT_OPTS=-Xmx",
        "hiveserver2": "HADOOP_HEAPSIZE=",
    }
    for name, setting in small_heaps.items():
        test = " ".join(services[name]["healthcheck"]["test"])
        check(setting in test, f"{name}: the healthcheck's JVM takes the service's heap")
    for name, service in services.items():
        if service.get("image", "").startswith("apache/hadoop:"):
            check(service.get("platform") == "linux/amd64", f"{name}: amd64-only image without platform")
    kibana_init = "\n".join(services["kibana-init"]["command"])
    check('"success":true' in kibana_init, "kibana-init: a failed import answers 200 and passes")
    check(
        "./scripts/hive:/scripts/hive:ro" in services["hiveserver2"].get("volumes", []),
        "hiveserver2: the Hive files are not mounted for beeline -f",
    )
    stack = (ROOT / "scripts/stack.sh").read_text()
    check("/dev/stdin" not in stack, "stack.sh: Hive files are piped through exec -T")
    # One-shot set-up jobs; a tool run by hand (a profile) is not one.
    jobs = sorted(
        name
        for name, service in services.items()
        if service.get("restart") == "no" and "profiles" not in service
    )
    listed = re.search(r"^JOBS=\(([^)]*)\)", stack, re.M)
    check(
        listed and sorted(listed.group(1).split()) == jobs,
        f"stack.sh: JOBS does not list the one-shot jobs {jobs}",
    )
    check('compose wait "$job"' in stack, "stack.sh: waits for several jobs in one call")

    # Start-up order, health, exposure, memory.
    total = 0
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        check(one_shot or "healthcheck" in service, f"{name}: no healthcheck")
        for dependency, how in service.get("depends_on", {}).items():
            check(dependency in services, f"{name}: depends on unknown {dependency}")
            expected = (
                "service_completed_successfully"
                if services.get(dependency, {}).get("restart") == "no"
                else "service_healthy"
            )
            check(
                isinstance(how, dict) and how.get("condition") == expected,
                f"{name}: depends on {dependency} without condition {expected}",
            )
        for published in service.get("ports", []):
            check(str(published).startswith("127.0.0.1:"), f"{name}: {published} not on 127.0.0.1")
        check("mem_limit" in service, f"{name}: no memory limit")
        if not one_shot and "mem_limit" in service:
            total += memory_bytes(service["mem_limit"]) * replicas(service)
    check(
        total <= MEMORY_BUDGET_BYTES,
        f"long-running services may use {total / 1024**3:.1f} GiB; more than a 16 GB laptop spares",
    )

    for failure in failures:
        print(f"FAIL {failure}")
    print(f"compose checks: {len(failures)} failed, {len(services)} services, {total / 1024**3:.1f} GiB of limits")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
