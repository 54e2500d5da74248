"""The deploy files parse and agree with the code (no Docker engine, cluster or network).

deploy/Dockerfile, deploy/compose.yaml, deploy/helm/*.yaml and deploy/README.md are read the way
their tools read them (deploy_files.py); what they must provide is derived from the code: the
``dg.EnvVar`` settings of the production resources, the API's settings class, the ``env:`` keys
of deploy/dagster.yaml and deploy/workspace.yaml, and the installed command-line tools.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.workspace.config_schema import ensure_workspace_config
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import make_url
from starlette.routing import Match

from forecast_pipeline import cli
from forecast_pipeline.api.app import create_app
from forecast_pipeline.api.settings import ApiSettings
from forecast_pipeline.contracts.loader import contracts_dir
from forecast_pipeline.defs.forecasting.jobs import TRAINING_RUN_TAG, weekly_training_job
from forecast_pipeline.deployments import DEPLOYMENT_ENV_VAR, Deployment
from forecast_pipeline.warehouse.databases import API_ROLE, READER_ROLE
from forecast_pipeline_tests.deploy import helm_chart_keys
from forecast_pipeline_tests.deploy.deploy_files import (
    CONSOLE_SCRIPTS,
    DEPLOY_DIR,
    REPO_ROOT,
    Stage,
    as_argv,
    environ_reads,
    environment_of,
    exec_form,
    interpolate_all,
    interpolations,
    production_env_vars,
    read_dockerfile,
    read_env_file,
    resolve_command,
    settings_env_names,
    shell_commands,
    yaml_env_refs,
)

COMPOSE_FILE = DEPLOY_DIR / "compose.yaml"
ENV_EXAMPLE = DEPLOY_DIR / "compose.env.example"
DOCKERFILE = DEPLOY_DIR / "Dockerfile"
DOCKERIGNORE = DEPLOY_DIR / "Dockerfile.dockerignore"
INSTANCE_FILE = DEPLOY_DIR / "dagster.yaml"
WORKSPACE_FILE = DEPLOY_DIR / "workspace.yaml"
POSTGRES_INIT = DEPLOY_DIR / "postgres" / "init-databases.sh"
HELM_DIR = DEPLOY_DIR / "helm"
README = DEPLOY_DIR / "README.md"

DAGSTER_SERVICES = ("code-server", "webserver", "daemon")
ONE_OFF_SERVICES = ("minio-init", "migrate")
# boto3 reads these itself (no code names them); MinIO needs all three
S3_CLIENT_ENV = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|_USER$")
PRODUCTION = Deployment.PRODUCTION.value


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def sample_env() -> dict[str, str]:
    """deploy/compose.env.example with every empty secret filled in."""
    env = read_env_file(ENV_EXAMPLE)
    return {key: value or f"example-{key.lower().replace('_', '-')}" for key, value in env.items()}


@pytest.fixture(scope="module")
def services(sample_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The compose services, interpolated with the sample environment."""
    return interpolate_all(load_yaml(COMPOSE_FILE), sample_env)["services"]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_dockerfile(DOCKERFILE)


@pytest.fixture(scope="module")
def image_files(stages: list[Stage]) -> dict[str, Path]:
    """Files of the image's final stage copied from the repository: path in image -> file."""
    files = {}
    for sources, destination in stages[-1].copies():
        for source in sources:
            files[destination] = REPO_ROOT / source
    return files


@pytest.fixture(scope="module")
def helm_values() -> dict[str, Any]:
    return load_yaml(HELM_DIR / "values.yaml")


@pytest.fixture(scope="module")
def k8s_secrets() -> dict[str, set[str]]:
    """deploy/helm/secrets.example.yaml: secret name -> the keys it holds."""
    return {
        doc["metadata"]["name"]: set(doc.get("stringData") or {})
        for doc in load_yaml_documents(HELM_DIR / "secrets.example.yaml")
    }


def uses_our_image(service: Mapping[str, Any]) -> bool:
    return (service.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"


def command_of(service: Mapping[str, Any]) -> list[str]:
    return as_argv(service["command"])


def option_value(argv: list[str], *names: str) -> str:
    for index, arg in enumerate(argv):
        if arg in names:
            return argv[index + 1]
    raise AssertionError(f"`{' '.join(argv)}` has none of the options {names}")


def assert_command(
    argv: list[str], where: str, files: Mapping[str, Path] | None = None
) -> list[str]:
    """``argv`` resolved through the installed CLI's command tree, or a failure naming ``where``."""
    try:
        return resolve_command(argv, files)
    except (click.ClickException, LookupError) as error:
        message = error.format_message() if isinstance(error, click.ClickException) else error
        pytest.fail(f"{where}: `{' '.join(argv)}` is not a command of the image: {message}")


# ------------------------------------------------------------------------------------------------
# Dockerfile


def test_image_is_built_in_two_stages_on_a_pinned_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "deploy/Dockerfile must build in a builder and a runtime stage"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base), (
            f"deploy/Dockerfile stage {stage.name}: base {stage.base!r} is not python:3.11.X-slim"
        )
    runtime = stages[-1]
    assert runtime.all("COPY") and any("--from=" in i.args for i in runtime.all("COPY")), (
        "the runtime stage must copy the virtualenv from the builder stage"
    )


def test_dependency_layer_comes_before_the_source(stages: list[Stage]) -> None:
    builder = stages[0]
    order = [(i.keyword, i.args) for i in builder.instructions]
    copy_pyproject = next(n for n, (k, a) in enumerate(order) if k == "COPY" and "pyproject" in a)
    copy_source = next(
        n for n, (k, a) in enumerate(order) if k == "COPY" and "forecast_pipeline" in a
    )
    installs = [n for n, (k, a) in enumerate(order) if k == "RUN" and "pip install" in a]
    assert installs and copy_pyproject < installs[0] < copy_source, (
        "deploy/Dockerfile must COPY pyproject.toml, install the dependencies, and only then "
        "COPY forecast_pipeline/ (so a code change keeps the dependency layer cached)"
    )


def test_image_runs_as_a_non_root_user_with_a_health_check(stages: list[Stage]) -> None:
    runtime = stages[-1]
    users = runtime.all("USER")
    assert users, "deploy/Dockerfile: the runtime stage sets no USER (it would run as root)"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}, f"deploy/Dockerfile runs as {user!r}"
    assert any(f"--uid {user}" in i.args for i in runtime.all("RUN")), (
        f"deploy/Dockerfile: USER {user} is not the uid of the user the image creates"
    )
    (healthcheck,) = runtime.all("HEALTHCHECK")
    argv = exec_form(healthcheck.args)
    assert argv[:2] == ["python", "-c"], "the image's HEALTHCHECK must be a python one-liner"
    compile(argv[2], "HEALTHCHECK", "exec")
    entrypoint = exec_form(runtime.all("ENTRYPOINT")[-1].args)
    installed = " ".join(i.args for i in runtime.all("RUN"))
    assert re.search(rf"apt-get install .*\b{entrypoint[0]}\b", installed), (
        f"the image's ENTRYPOINT {entrypoint[0]!r} is not installed in the runtime stage"
    )


def test_image_holds_what_the_code_reads_at_run_time(stages: list[Stage]) -> None:
    builder = stages[0]
    copied = {source for sources, _ in builder.copies() for source in sources}
    contracts = contracts_dir().relative_to(REPO_ROOT).as_posix()
    assert contracts in copied, (
        f"deploy/Dockerfile does not copy {contracts}/, which the contract loader reads next "
        "to the package"
    )
    assert any("pip install --no-deps -e ." in i.args for i in builder.all("RUN")), (
        "the package must be installed in editable mode, so that it finds data_contracts/"
    )
    assert builder.workdir() == stages[-1].workdir(), (
        "the source folder of the editable install must be at the same path in both stages"
    )


def test_k8s_run_launcher_is_installed_in_the_image(
    stages: list[Stage], helm_values: dict[str, Any]
) -> None:
    assert helm_values["runLauncher"]["type"] == "K8sRunLauncher"
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith("dagster-k8s") for dep in extras.get("k8s", [])), (
        "pyproject.toml needs the extra `k8s` with dagster-k8s: the daemon and the run pods "
        "import dagster_k8s for the K8sRunLauncher"
    )
    assert any("['k8s']" in i.args for i in stages[0].all("RUN")), (
        "deploy/Dockerfile does not install the `k8s` extra"
    )


def test_build_context_keeps_what_the_dockerfile_copies(stages: list[Stage]) -> None:
    patterns = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".venv" in patterns and ".git" in patterns
    for stage in stages:
        for sources, _ in stage.copies():
            for source in sources:
                ignored = [p for p in patterns if Path(source).match(p) or source == p]
                assert not ignored, f"{DOCKERIGNORE.name} drops {source}, which the image copies"
                assert (REPO_ROOT / source).exists(), f"deploy/Dockerfile copies missing {source}"


# ------------------------------------------------------------------------------------------------
# compose


def test_compose_defines_the_whole_stack(services: dict[str, dict[str, Any]]) -> None:
    expected = {"postgres", "minio", "mlflow", "api", *DAGSTER_SERVICES, *ONE_OFF_SERVICES}
    assert expected <= set(services), f"compose.yaml lacks {sorted(expected - set(services))}"
    for name in ("mlflow", "api", *DAGSTER_SERVICES, "migrate"):
        assert uses_our_image(services[name]), f"compose service {name} must run deploy/Dockerfile"


def test_services_wait_for_what_they_need(services: dict[str, dict[str, Any]]) -> None:
    assert "pg_isready" in " ".join(as_argv(services["postgres"]["healthcheck"]["test"]))
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            condition = spec["condition"]
            if dependency in ONE_OFF_SERVICES:
                assert condition == "service_completed_successfully", (
                    f"compose service {name} must wait for the one-off {dependency} to finish"
                )
            else:
                assert condition == "service_healthy", f"{name} -> {dependency}: {condition}"
                assert "healthcheck" in services[dependency], (
                    f"compose service {name} waits for {dependency} to be healthy, which has no "
                    "healthcheck"
                )
    for name in ("migrate", "mlflow", "api", *DAGSTER_SERVICES):
        assert "postgres" in services[name].get("depends_on", {}), f"{name} must wait for postgres"
    for name in ("mlflow", "code-server"):
        assert "minio-init" in services[name]["depends_on"], f"{name} needs the buckets"
    assert "migrate" in services["code-server"]["depends_on"]
    assert "migrate" in services["api"]["depends_on"]


def test_stores_keep_their_data_in_named_volumes(services: dict[str, dict[str, Any]]) -> None:
    declared = set(load_yaml(COMPOSE_FILE).get("volumes") or {})
    for service, path in (("postgres", "/var/lib/postgresql/data"), ("minio", "/data")):
        mounts = dict(v.split(":")[:2][::-1] for v in services[service]["volumes"])
        assert path in mounts, f"compose service {service} keeps {path} in no volume"
        assert mounts[path] in declared, f"{service}: {mounts[path]} is not a named volume"


def strings_in(value: Any) -> list[str]:
    """The string values of a parsed YAML document (what compose interpolates)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def test_secrets_are_required_and_documented() -> None:
    example = read_env_file(ENV_EXAMPLE)
    used = [ref for text in strings_in(load_yaml(COMPOSE_FILE)) for ref in interpolations(text)]
    for ref in used:
        if SECRET_NAME.search(ref.name):
            assert ref.op == ":?", (
                f"compose.yaml: ${{{ref.name}{ref.op}...}} must be ${{{ref.name}:?...}}: a "
                "missing secret has to stop compose"
            )
    names = {ref.name for ref in used}
    assert names <= set(example), f"not in compose.env.example: {sorted(names - set(example))}"
    assert set(example) <= names, f"compose.env.example lists unused {sorted(set(example) - names)}"


def test_workspace_points_at_the_code_server(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    code_server = command_of(services["code-server"])
    port = option_value(code_server, "-p", "--port")
    health = option_value(as_argv(services["code-server"]["healthcheck"]["test"]), "-p", "--port")
    assert health == port, f"compose: code-server listens on {port}, its healthcheck on {health}"
    workspace = load_yaml(WORKSPACE_FILE)
    for name in ("webserver", "daemon"):
        env = environment_of(services[name])
        for variable in yaml_env_refs(workspace):
            assert variable in env, f"compose service {name} lacks {variable} (workspace.yaml)"
            monkeypatch.setenv(variable, env[variable])
        config = ensure_workspace_config(workspace, str(WORKSPACE_FILE))
        (location,) = config["load_from"]
        server = location["grpc_server"]
        assert server["host"] in services, (
            f"{name}: workspace.yaml points at host {server['host']!r}, no compose service"
        )
        assert server["host"] == "code-server", f"{name}: workspace host {server['host']!r}"
        assert str(server["port"]) == port, (
            f"{name}: workspace.yaml port {server['port']} but the code server listens on {port}"
        )


def test_dagster_processes_find_the_instance_and_workspace(
    services: dict[str, dict[str, Any]], stages: list[Stage], image_files: dict[str, Path]
) -> None:
    home = stages[-1].env()["DAGSTER_HOME"]
    assert image_files.get(f"{home}/dagster.yaml") == INSTANCE_FILE, (
        f"deploy/Dockerfile must copy deploy/dagster.yaml to DAGSTER_HOME ({home})"
    )
    for name in DAGSTER_SERVICES:
        assert environment_of(services[name]).get("DAGSTER_HOME", home) == home, name
    for name in ("webserver", "daemon"):
        workspace = option_value(command_of(services[name]), "-w", "--workspace")
        assert image_files.get(workspace) == WORKSPACE_FILE, (
            f"compose service {name} reads {workspace}, which is not deploy/workspace.yaml"
        )


def required_env(service: str) -> set[str]:
    """What the code and the Dagster files need in the environment of one compose service."""
    instance = yaml_env_refs(load_yaml(INSTANCE_FILE))
    workspace = yaml_env_refs(load_yaml(WORKSPACE_FILE))
    return {
        # the code server runs the runs: every resource setting of the production deployment
        "code-server": production_env_vars() | instance | S3_CLIENT_ENV | {DEPLOYMENT_ENV_VAR},
        "webserver": instance | workspace | S3_CLIENT_ENV,
        "daemon": instance | workspace | S3_CLIENT_ENV,
        "api": settings_env_names(ApiSettings, required_only=True) | {DEPLOYMENT_ENV_VAR},
        "migrate": environ_reads(cli.migrate.callback) | {DEPLOYMENT_ENV_VAR},
    }[service]


@pytest.mark.parametrize("service", ["code-server", "webserver", "daemon", "api", "migrate"])
def test_each_service_gets_the_environment_the_code_reads(
    service: str, services: dict[str, dict[str, Any]]
) -> None:
    env = environment_of(services[service])
    missing = required_env(service) - set(env)
    assert not missing, f"compose service {service} lacks {sorted(missing)}"
    if DEPLOYMENT_ENV_VAR in required_env(service):
        assert env[DEPLOYMENT_ENV_VAR] == PRODUCTION, f"{service}: {DEPLOYMENT_ENV_VAR}"
    known = settings_env_names(ApiSettings, required_only=False)
    unknown = {key for key in env if key.startswith("FORECAST_API_")} - known
    assert not unknown, f"compose service {service}: no API setting is called {sorted(unknown)}"


def test_postgres_creates_every_database_and_role_the_urls_use(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = environment_of(services["postgres"])
    script = POSTGRES_INIT.read_text()
    databases = {postgres["POSTGRES_DB"], *re.findall(r"CREATE DATABASE (\w+)", script)}
    roles = {postgres["POSTGRES_USER"], *re.findall(r"CREATE ROLE (\w+)", script)}
    assert {READER_ROLE, API_ROLE} <= roles, (
        "init-databases.sh must give the migration roles a login"
    )
    for script_variable in re.findall(r'"\$(\w+)"', script):
        assert script_variable in postgres, f"init-databases.sh reads {script_variable}"
    for name, service in services.items():
        values = [*environment_of(service).values(), *as_argv(service.get("command") or [])]
        for value in values:
            if not value.startswith("postgresql"):
                continue
            url = make_url(value)
            assert url.host == "postgres", f"{name}: {url.host}"
            assert url.database in databases, f"{name} uses database {url.database}, never created"
            assert url.username in roles, f"{name} logs in as {url.username}, never created"


def test_mlflow_keeps_runs_in_postgres_and_artifacts_in_s3(
    services: dict[str, dict[str, Any]],
) -> None:
    mlflow = services["mlflow"]
    argv = command_of(mlflow)
    assert argv[:2] == ["mlflow", "server"] and "--serve-artifacts" in argv
    backend = make_url(environment_of(mlflow)["MLFLOW_BACKEND_STORE_URI"])
    assert backend.drivername == "postgresql+psycopg" and backend.database == "forecast_mlflow"
    lake = environment_of(services["code-server"])["FORECAST_LAKE_BUCKET"]
    assert option_value(argv, "--artifacts-destination").startswith(f"s3://{lake}/")
    code_env = environment_of(services["code-server"])
    tracking = make_url(code_env["MLFLOW_TRACKING_URI"])
    assert (tracking.host, str(tracking.port)) == ("mlflow", option_value(argv, "--port", "-p"))
    assert f"{tracking.host}:{tracking.port}" in option_value(argv, "--allowed-hosts").split(",")
    assert code_env["FORECAST_MLFLOW_ARTIFACTS"].startswith("mlflow-artifacts:/"), (
        "runs must send their artifacts through the tracking server (--serve-artifacts)"
    )


@pytest.mark.parametrize(
    "service", ["migrate", "mlflow", "code-server", "webserver", "daemon", "api"]
)
def test_compose_commands_are_real_cli_commands(
    service: str, services: dict[str, dict[str, Any]], image_files: dict[str, Path]
) -> None:
    definition = services[service]
    assert "entrypoint" not in definition, f"{service} must keep the image's entrypoint (tini)"
    assert_command(command_of(definition), f"compose service {service}", image_files)
    check = as_argv(definition.get("healthcheck", {}).get("test", ["NONE"]))
    if check[0] == "CMD" and check[1] == "python":
        compile(check[3], f"{service} healthcheck", "exec")
    elif check[0] == "CMD":
        assert_command(check[1:], f"compose service {service}, healthcheck", image_files)


# ------------------------------------------------------------------------------------------------
# dagster.yaml


def test_dagster_yaml_is_accepted_by_dagster(
    services: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment_of(services["code-server"])
    for variable in yaml_env_refs(load_yaml(INSTANCE_FILE)):
        monkeypatch.setenv(variable, env[variable])
    shutil.copy(INSTANCE_FILE, tmp_path / "dagster.yaml")
    dagster_instance_config(str(tmp_path))
    ref = InstanceRef.from_dir(str(tmp_path))
    classes = [
        value for value in ref._asdict().values() if isinstance(value, ConfigurableClassData)
    ]
    assert {data.class_name for data in classes} >= {
        "DagsterPostgresStorage",
        "DefaultRunLauncher",
        "QueuedRunCoordinator",
        "S3ComputeLogManager",
    }
    for data in classes:
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(klass.config_type(), yaml.safe_load(data.config_yaml) or {})
        assert result.success, f"deploy/dagster.yaml, {data.class_name}: {result.errors}"


def test_training_runs_are_limited_to_one_by_their_tag(helm_values: dict[str, Any]) -> None:
    training = {
        "key": TRAINING_RUN_TAG,
        "value": weekly_training_job.tags[TRAINING_RUN_TAG],
        "limit": 1,
    }
    compose_limits = load_yaml(INSTANCE_FILE)["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert training in compose_limits, "deploy/dagster.yaml: no limit on the training tag"
    queued = helm_values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert training in queued["tagConcurrencyLimits"], "helm/values.yaml: no training limit"


# ------------------------------------------------------------------------------------------------
# Helm


def leaf_paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, Mapping) and value:
        return set().union(
            *(
                leaf_paths(item, f"{prefix}.{key}" if prefix else str(key))
                for key, item in value.items()
            )
        )
    if isinstance(value, list) and value:
        return set().union(*(leaf_paths(item, f"{prefix}[]") for item in value))
    return {prefix}


def is_known(path: str) -> bool:
    return any(
        path == key or (key.endswith(".*") and path.startswith(key[:-1]))
        for key in helm_chart_keys.KNOWN_KEYS
    )


def test_helm_values_use_only_keys_the_chart_knows(helm_values: dict[str, Any]) -> None:
    unknown = sorted(path for path in leaf_paths(helm_values) if not is_known(path))
    assert not unknown, (
        f"deploy/helm/values.yaml uses keys {unknown}, which are not in chart "
        f"{helm_chart_keys.CHART} {helm_chart_keys.CHART_VERSION} (helm_chart_keys.py)"
    )


def test_helm_chart_version_follows_dagster() -> None:
    assert dg.__version__ == helm_chart_keys.CHART_VERSION, (
        f"dagster is {dg.__version__}: check the keys of chart {dg.__version__} and update "
        "helm_chart_keys.py, values.yaml and deploy/README.md"
    )
    for path in (HELM_DIR / "values.yaml", README):
        assert f"--version {helm_chart_keys.CHART_VERSION}" in path.read_text(), path.name


def test_helm_runs_our_image_with_real_commands(helm_values: dict[str, Any]) -> None:
    (deployment,) = helm_values["dagster-user-deployments"]["deployments"]
    images = {
        "dagsterWebserver": helm_values["dagsterWebserver"]["image"],
        "dagsterDaemon": helm_values["dagsterDaemon"]["image"],
        "user deployment": deployment["image"],
    }
    for doc in [
        *load_yaml_documents(HELM_DIR / "api.yaml"),
        *load_yaml_documents(HELM_DIR / "migrate-job.yaml"),
    ]:
        for container in pod_spec(doc).get("containers", []):
            repository, _, tag = container["image"].rpartition(":")
            images[f"{doc['kind']} {container['name']}"] = {"repository": repository, "tag": tag}
    references = {(image["repository"], str(image["tag"])) for image in images.values()}
    assert len(references) == 1, f"the Helm files run different images: {images}"
    files = {helm_chart_keys.CHART_WORKSPACE_FILE: WORKSPACE_FILE}
    port = helm_values["dagsterWebserver"]["service"]["port"]
    assert port >= 1024, "the image runs as a non-root user: the webserver needs a port >= 1024"
    assert helm_values["dagsterWebserver"]["readinessProbe"]["httpGet"]["port"] == port
    webserver = helm_chart_keys.WEBSERVER_COMMAND.format(port=port).split()
    assert_command(webserver, "helm/values.yaml dagsterWebserver", files)
    assert_command(helm_chart_keys.DAEMON_COMMAND.split(), "helm/values.yaml dagsterDaemon", files)
    code_server = helm_chart_keys.CODE_SERVER_COMMAND.format(port=deployment["port"]).split()
    where = "helm/values.yaml dagster-user-deployments codeServerArgs"
    assert_command([*code_server, *deployment["codeServerArgs"]], where)


def test_helm_gives_the_code_location_the_environment_the_code_reads(
    helm_values: dict[str, Any], k8s_secrets: dict[str, set[str]]
) -> None:
    (deployment,) = helm_values["dagster-user-deployments"]["deployments"]
    provided = set(deployment["env"])
    for secret in deployment["envSecrets"]:
        assert secret["name"] in k8s_secrets, f"secrets.example.yaml lacks {secret['name']}"
        provided |= k8s_secrets[secret["name"]]
    missing = (production_env_vars() | {DEPLOYMENT_ENV_VAR}) - provided
    assert not missing, f"helm/values.yaml: the code location and its runs lack {sorted(missing)}"
    assert deployment["env"][DEPLOYMENT_ENV_VAR] == PRODUCTION
    assert deployment["includeConfigInLaunchedRuns"]["enabled"], "runs must inherit this env"
    for section in ("dagsterWebserver", "dagsterDaemon"):
        for secret in helm_values[section].get("envSecrets", []):
            assert secret["name"] in k8s_secrets, f"{section}: no secret {secret['name']}"
    postgres_secret = helm_values["global"]["postgresqlSecretName"]
    assert "postgresql-password" in k8s_secrets.get(postgres_secret, set()), postgres_secret
    assert not helm_values["generatePostgresqlPasswordSecret"]
    assert not helm_values["postgresql"]["enabled"], "Postgres is external"
    assert "postgresqlPassword" not in helm_values["postgresql"], "passwords go in secrets"


def test_helm_instance_matches_deploy_dagster_yaml(helm_values: dict[str, Any]) -> None:
    instance = load_yaml(INSTANCE_FILE)
    daemon = helm_values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = instance["run_coordinator"]["config"]
    logs = helm_values["computeLogManager"]["config"]["s3ComputeLogManager"]
    (deployment,) = helm_values["dagster-user-deployments"]["deployments"]
    pairs = {
        "max concurrent runs": (queued["maxConcurrentRuns"], coordinator["max_concurrent_runs"]),
        "tag limits": (queued["tagConcurrencyLimits"], coordinator["tag_concurrency_limits"]),
        "run retries": (daemon["runRetries"]["maxRetries"], instance["run_retries"]["max_retries"]),
        "retry on asset failure": (
            daemon["runRetries"]["retryOnAssetOrOpFailure"],
            instance["run_retries"]["retry_on_asset_or_op_failure"],
        ),
        "step log prefix": (logs["prefix"], instance["compute_logs"]["config"]["prefix"]),
        "step log bucket": (logs["bucket"], deployment["env"]["FORECAST_LAKE_BUCKET"]),
        "schedule tick retention": (
            helm_values["retention"]["schedule"]["purgeAfterDays"],
            instance["retention"]["schedule"]["purge_after_days"],
        ),
    }
    differ = {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}
    assert not differ, f"helm/values.yaml and deploy/dagster.yaml disagree: {differ}"
    requests = helm_values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"][
        "containerConfig"
    ]["resources"]["requests"]
    assert {"cpu", "memory"} <= set(requests), "run pods (training) need cpu and memory requests"


def pod_spec(doc: Mapping[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec", {})
    return spec.get("template", {}).get("spec", {}) if "template" in spec else {}


def test_api_manifest_serves_the_api_with_probes_on_its_routes(
    k8s_secrets: dict[str, set[str]],
) -> None:
    docs = {doc["kind"]: doc for doc in load_yaml_documents(HELM_DIR / "api.yaml")}
    assert {"Deployment", "Service"} <= set(docs)
    (container,) = pod_spec(docs["Deployment"])["containers"]
    argv = container["args"]
    assert assert_command(argv, "helm/api.yaml") == ["forecast-pipeline", "api"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert str(ports["http"]) == option_value(argv, "--port"), "containerPort vs --port"
    (service_port,) = docs["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in {"http", ports["http"]}
    app = create_app(ApiSettings(database_url="postgresql://api@db/warehouse"))  # connects not
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        path = container[probe]["httpGet"]["path"]
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
        served = any(route.matches(scope)[0] is Match.FULL for route in app.routes)
        assert served, f"helm/api.yaml {probe} checks {path}, which the API does not serve"
    assert container["readinessProbe"]["httpGet"]["path"].endswith("/health")
    provided = {item["name"] for item in container.get("env", [])}
    for source in container.get("envFrom", []):
        provided |= k8s_secrets[source["secretRef"]["name"]]
    missing = required_env("api") - provided
    assert not missing, f"helm/api.yaml: the API lacks {sorted(missing)}"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env[DEPLOYMENT_ENV_VAR] == PRODUCTION


def test_migration_job_runs_the_migrations(k8s_secrets: dict[str, set[str]]) -> None:
    (job,) = load_yaml_documents(HELM_DIR / "migrate-job.yaml")
    (container,) = pod_spec(job)["containers"]
    command = assert_command(container["args"], "helm/migrate-job.yaml")
    assert command == ["forecast-pipeline", "migrate"]
    provided = {item["name"] for item in container["env"]}
    for source in container["envFrom"]:
        provided |= k8s_secrets[source["secretRef"]["name"]]
    missing = required_env("migrate") - provided
    assert not missing, f"helm/migrate-job.yaml lacks {sorted(missing)}"


# ------------------------------------------------------------------------------------------------
# the README and the installed tools


def test_readme_commands_exist(
    services: dict[str, dict[str, Any]], image_files: dict[str, Path]
) -> None:
    text = README.read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    launchers = frozenset(services)  # docker compose run SERVICE <command>
    commands = [argv for block in blocks for argv in shell_commands(block, launchers)]
    assert len(commands) >= 5, "deploy/README.md shows too few commands"
    for argv in commands:
        assert_command(argv, "deploy/README.md", image_files)
    for path in sorted(DEPLOY_DIR.rglob("*")):
        relative = path.relative_to(DEPLOY_DIR).as_posix()
        if path.is_file() and path != README:
            assert relative in text, f"deploy/README.md does not mention {relative}"


@pytest.mark.parametrize("script", CONSOLE_SCRIPTS)
def test_console_scripts_start(script: str) -> None:
    executable = Path(sys.executable).parent / script
    result = subprocess.run(
        [str(executable), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"`{script} --help` failed: {result.stderr[-2000:]}"
