"""deploy/ is correct by construction where Docker and Kubernetes cannot run: each file is parsed and checked.

- docker-compose.yml validates against the Compose Specification's JSON Schema (vendored, see schemas/README.md)
  and wires the stack as deploy/README.md says;
- the Helm values use the official Dagster chart's keys (a hand-kept subset of its values.schema.json: the
  chart's schema is not on PyPI or npm);
- each Dockerfile runs the Makefile's install commands, in order;
- nginx asks for a password on every server it exposes;
- the Celery workers' config is the executor's.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from synth_pipelines.executors import GPU_QUEUE, K8S_CONFIG_TAG, TRAINING_OP_TAGS, celery_config
from synth_pipelines.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
SCHEMAS = Path(__file__).parent / "schemas"

COMPOSE_SERVICES = {
    "postgres",
    "redis",
    "synth-code",
    "dagster-webserver",
    "dagster-webserver-readonly",
    "dagster-daemon",
    "celery-worker",
    "celery-worker-gpu",
    "minio",
    "minio-bucket",
    "ipfs",
    "nginx",
}
STEP_RUNNERS = {"synth-code", "dagster-daemon", "celery-worker", "celery-worker-gpu"}


def interpolate(text: str) -> str:
    """Compose's variable substitution with nothing set: defaults are used, required variables get a value."""
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", text)
    text = re.sub(r"\$\{(\w+):\?[^}]*\}", r"required-\1", text)
    assert not re.search(r"(?<!\$)\$\{", text), "a variable without a default or a required marker"
    return text.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(interpolate((DEPLOY / "docker-compose.yml").read_text()))


def test_compose_file_validates_against_the_compose_spec(compose):
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    # The schema names draft 2019-09 with a URI jsonschema does not recognise ("...schema#").
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_stack_is_wired(compose):
    services = compose["services"]
    assert set(services) == COMPOSE_SERVICES

    grpc = services["synth-code"]["command"]
    assert grpc[:5] == ["dagster", "api", "grpc", "-m", "synth_pipelines.definitions"]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    assert (workspace["host"], str(workspace["port"])) == ("synth-code", grpc[grpc.index("-p") + 1])

    assert "--read-only" in services["dagster-webserver-readonly"]["command"]
    assert "--read-only" not in services["dagster-webserver"]["command"]
    assert services["dagster-daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert services["ipfs"]["image"].startswith("ipfs/kubo:")
    assert services["minio"]["image"].startswith("minio/minio")

    # Only nginx is reachable from outside the host; the webservers publish nothing.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert name == "nginx" or str(port).startswith("127.0.0.1:"), (name, port)

    for name in STEP_RUNNERS:
        env = services[name]["environment"]
        assert env["SYNTH_CELERY_BROKER"].startswith("redis://redis:"), name
        assert env["DAGSTER_PG_HOST"] == "postgres", name
        mounts = {volume.split(":")[1] for volume in services[name]["volumes"]}
        assert mounts == {"/data/synth", "/opt/dagster/dagster_home/storage"}, name


def test_celery_workers_listen_where_the_executor_sends(compose):
    queues = {}
    for name in ("celery-worker", "celery-worker-gpu"):
        command = compose["services"][name]["command"]
        assert command[:6] == ["dagster-celery", "worker", "start", "-A", "dagster_celery.app", "-y"], name
        # A repeated -q reaches celery as a repeated -Q, and only the last one counts.
        assert command.count("-q") == 1, name
        queues[name] = set(command[command.index("-q") + 1].split(","))
    assert queues["celery-worker"] == {"dagster"}
    assert GPU_QUEUE in queues["celery-worker-gpu"]
    gpu = compose["services"]["celery-worker-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert gpu["build"]["dockerfile"] == "deploy/Dockerfile.cuda"


def test_worker_config_is_the_executors_config(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("SYNTH_CELERY_BROKER", "redis://redis:6379/0")
    monkeypatch.setenv("SYNTH_CELERY_BACKEND", "redis://redis:6379/1")
    assert get_validated_config(str(DEPLOY / "celery.yaml")) == {**celery_config(), "retries": {"enabled": {}}}


def makefile_installs() -> list[str]:
    commands = []
    for line in (REPO_ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"\t\$\(BIN\)/(pip install .*)$", line)
        if match:
            commands.append(shlex.split(match.group(1)))
    return commands


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_installs_like_the_makefile(dockerfile):
    expected = makefile_installs()
    assert [c[:4] for c in expected[1:3]] == [
        ["pip", "install", "--quiet", "torch==2.13.0"],
        ["pip", "install", "--quiet", "-e"],
    ], expected
    installs = [
        shlex.split(line[len("RUN ") :])
        for line in (DEPLOY / dockerfile).read_text().splitlines()
        if line.startswith("RUN pip install")
    ]
    assert installs == expected
    # and the report's numba kernels compiled into the image, as `make setup` compiles them
    (compile_line,) = [line for line in (REPO_ROOT / "Makefile").read_text().splitlines() if "compile_kernels" in line]
    assert "RUN python " + compile_line.split("/python ", 1)[1] in (DEPLOY / dockerfile).read_text().splitlines()


HELM_TOP_LEVEL = {
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "global",
    "retention",
    "additionalInstanceConfig",
}
# The parts of the chart's values.schema.json (Dagster 1.x) that deploy/helm/values.yaml sets, kept by hand.
IMAGE = {
    "type": "object",
    "required": ["repository", "pullPolicy"],
    "properties": {
        "repository": {"type": "string"},
        "tag": {"type": ["string", "integer", "null"]},
        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    },
    "additionalProperties": False,
}
HELM_SUBSET = {
    "type": "object",
    "propertyNames": {"enum": sorted(HELM_TOP_LEVEL)},
    "properties": {
        "dagster-user-deployments": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "enableSubchart": {"type": "boolean"},
                "deployments": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "image", "port"],
                        "properties": {
                            "name": {"type": "string"},
                            "image": IMAGE,
                            "port": {"type": "integer"},
                            "dagsterApiGrpcArgs": {"type": "array", "items": {"type": "string"}},
                            "includeConfigInLaunchedRuns": {"type": "object", "required": ["enabled"]},
                            "env": {"type": ["object", "array"]},
                            "envConfigMaps": {"type": "array"},
                            "envSecrets": {"type": "array"},
                            "volumeMounts": {"type": "array"},
                            "volumes": {"type": "array"},
                            "resources": {"type": "object"},
                            "nodeSelector": {"type": "object"},
                            "tolerations": {"type": "array"},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
        "runLauncher": {
            "type": "object",
            "required": ["type", "config"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]},
                "config": {
                    "type": "object",
                    "properties": {
                        "k8sRunLauncher": {
                            "type": "object",
                            "required": [
                                "imagePullPolicy",
                                "loadInclusterConfig",
                                "envConfigMaps",
                                "envSecrets",
                                "envVars",
                                "volumeMounts",
                                "volumes",
                            ],
                            "properties": {
                                "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                                "loadInclusterConfig": {"type": "boolean"},
                                "envConfigMaps": {"type": "array"},
                                "envSecrets": {"type": "array"},
                                "envVars": {"type": "array", "items": {"type": "string"}},
                                "volumeMounts": {"type": "array"},
                                "volumes": {"type": "array"},
                                "runK8sConfig": {
                                    "type": "object",
                                    "propertyNames": {
                                        "enum": [
                                            "containerConfig",
                                            "podSpecConfig",
                                            "podTemplateSpecMetadata",
                                            "jobSpecConfig",
                                            "jobMetadata",
                                        ]
                                    },
                                },
                            },
                            "additionalProperties": False,
                        }
                    },
                },
            },
        },
        "postgresql": {
            "type": "object",
            "propertyNames": {
                "enum": [
                    "image",
                    "enabled",
                    "postgresqlHost",
                    "postgresqlUsername",
                    "postgresqlPassword",
                    "postgresqlDatabase",
                    "postgresqlParams",
                    "postgresqlScheme",
                    "service",
                ]
            },
        },
        "dagsterWebserver": {"type": "object", "properties": {"enableReadOnly": {"const": True}}},
        "dagsterDaemon": {
            "type": "object",
            "properties": {
                "runCoordinator": {
                    "type": "object",
                    "properties": {
                        "type": {"const": "QueuedRunCoordinator"},
                        "config": {"required": ["queuedRunCoordinator"]},
                    },
                }
            },
        },
    },
    "required": ["dagster-user-deployments", "runLauncher", "postgresql", "dagsterWebserver"],
}


def test_helm_values_use_the_dagster_charts_keys():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    jsonschema.validate(values, HELM_SUBSET)
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "synth_pipelines.definitions"]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["SYNTH_EXECUTOR"] == "k8s"
    # Step pods share outputs (the default IO manager under DAGSTER_HOME/storage) and the work area.
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {m["mountPath"] for m in launcher["volumeMounts"]} == {"/data/synth", "/opt/dagster/dagster_home/storage"}


def test_training_tag_asks_kubernetes_for_a_gpu_node():
    config = TRAINING_OP_TAGS[K8S_CONFIG_TAG]
    assert set(config) <= {
        "container_config",
        "pod_spec_config",
        "pod_template_spec_metadata",
        "job_spec_config",
        "job_metadata",
    }
    assert config["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert config["pod_spec_config"]["node_selector"]
    json.dumps(TRAINING_OP_TAGS)  # op tags are stored as strings: the value must serialize


def nginx_servers(text: str) -> list[str]:
    """The body of each `server { ... }` block (braces balanced)."""
    bodies, start = [], 0
    while (match := re.compile(r"\bserver\s*\{").search(text, start)) is not None:
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        bodies.append(text[match.end() : i - 1])
        start = i
    return bodies


def test_nginx_requires_a_login_on_every_server(compose):
    text = re.sub(r"#[^\n]*", "", (DEPLOY / "nginx" / "nginx.conf").read_text())
    servers = nginx_servers(text)
    assert len(servers) == 2
    mounted = {volume.split(":")[1] for volume in compose["services"]["nginx"]["volumes"]}
    upstreams = {}
    for body in servers:
        assert re.search(r"^\s*auth_basic\s+\"[^\"]+\";", body, re.M), body
        assert "auth_basic off" not in body
        user_file = re.search(r"auth_basic_user_file\s+(\S+);", body).group(1)
        assert user_file in mounted
        listen = re.search(r"listen\s+(\d+);", body).group(1)
        upstreams[listen] = re.search(r"proxy_pass\s+http://(\w+);", body).group(1)
    assert upstreams == {"80": "dagster_webserver", "8081": "dagster_webserver_readonly"}
    assert "server dagster-webserver-readonly:3000;" in text
    published = {str(p).split(":")[-1] for p in compose["services"]["nginx"]["ports"]}
    assert published == {"80", "8081"}


def test_nginx_signs_the_user_it_let_in_as_the_code_location_checks_it(compose, tmp_path):
    """identity.js (njs in nginx) computes the signature intake/identity.py verifies; node runs the same file."""
    import shutil
    import subprocess

    from synth_pipelines.intake.identity import Identity, signature

    text = re.sub(r"#[^\n]*", "", (DEPLOY / "nginx" / "nginx.conf").read_text())
    roles = {}
    for body in nginx_servers(text):
        listen = re.search(r"listen\s+(\d+);", body).group(1)
        roles[listen] = re.search(r"set\s+\$synth_role\s+(\w+);", body).group(1)
        for header, value in (("User", "$remote_user"), ("Role", "$synth_role"), ("Signature", "$synth_signature")):
            # proxy_set_header replaces whatever the client sent; add_header hands it back to the client.
            assert f"proxy_set_header X-Synth-{header} {value};" in body
            assert f"add_header X-Synth-{header} {value} always;" in body
    assert roles == {"80": "requester", "8081": "viewer"}
    assert "/etc/nginx/identity.js" in {v.split(":")[1] for v in compose["services"]["nginx"]["volumes"]}
    assert "SYNTH_IDENTITY_SECRET" in compose["services"]["nginx"]["environment"]
    for service in STEP_RUNNERS:
        assert "SYNTH_IDENTITY_SECRET" in compose["services"][service]["environment"], service
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make test installs it)")
    module = tmp_path / "identity.mjs"
    module.write_text((DEPLOY / "nginx" / "identity.js").read_text())
    script = (
        f"import({json.dumps(str(module))}).then(m => console.log(m.default.signature("
        "{remoteUser: 'alice@example.org', variables: {synth_role: 'viewer'}})))"
    )
    done = subprocess.run(
        [node, "-e", script], env={"SYNTH_IDENTITY_SECRET": "s3cr3t"}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == signature(Identity("alice@example.org", "viewer"), "s3cr3t")
