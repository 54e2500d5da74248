"""The keys of Dagster's Helm chart that deploy/helm/values.yaml relies on.

Read from the chart's values schema, the pydantic models its ``values.schema.json`` is generated
from, in https://github.com/dagster-io/dagster/tree/master/helm/dagster/schema/schema/charts
(``dagster/values.py`` and ``dagster/subschema/{webserver,daemon,run_launcher,postgresql,
compute_log_manager,retention,telemetry,global_}.py``, ``dagster_user_deployments/subschema/
user_deployments.py``, ``utils/kubernetes.py``), as of chart 1.13. Where the schema leaves a
value free-form (``runMonitoring`` is ``dict[str, Any]``), the keys are those the chart's
templates render (``templates/configmap-instance.yaml``); Kubernetes objects (resources, probes,
secret references) are passed through as they are and end in ``.*`` here.

Notation: ``a.b`` is a key, ``a.b[]`` an item of the list ``a.b``, ``a.b.*`` anything below
``a.b``. When the chart version changes, read the schema again and update this file.
"""

from __future__ import annotations

CHART = "dagster/dagster"
CHART_VERSION = "1.13.27"  # equal to the dagster version of the image (pyproject: dagster 1.13.x)
CHART_REPOSITORY = "https://dagster-io.github.io/helm"
SCHEMA_SOURCE = (
    "https://github.com/dagster-io/dagster/tree/master/helm/dagster/schema/schema/charts"
)

_IMAGE = ("image.repository", "image.tag", "image.pullPolicy")
_POD = (
    "env.*",
    "envConfigMaps[].*",
    "envSecrets[].*",
    "resources.*",
    "nodeSelector.*",
    "affinity.*",
    "tolerations[].*",
    "podSecurityContext.*",
    "securityContext.*",
    "annotations.*",
    "labels.*",
    "volumes[].*",
    "volumeMounts[].*",
    "livenessProbe.*",
    "readinessProbe.*",
    "startupProbe.*",
    "schedulerName",
)


def _under(prefix: str, keys: tuple[str, ...]) -> set[str]:
    return {f"{prefix}.{key}" for key in keys}


KNOWN_KEYS: frozenset[str] = frozenset(
    {
        # dagster/values.py: DagsterHelmValues; dagster/subschema/global_.py: Global
        "global.dagsterHome",
        "global.postgresqlSecretName",
        "global.serviceAccountName",
        "generatePostgresqlPasswordSecret",
        "imagePullSecrets[].*",
        "additionalInstanceConfig.*",
        # dagster/subschema/postgresql.py: PostgreSQL
        "postgresql.enabled",
        "postgresql.postgresqlHost",
        "postgresql.postgresqlUsername",
        "postgresql.postgresqlDatabase",
        "postgresql.postgresqlParams.*",
        "postgresql.postgresqlScheme",
        "postgresql.service.port",
        *_under("postgresql", _IMAGE),
        # dagster/subschema/webserver.py: Webserver
        *_under("dagsterWebserver", _IMAGE),
        *_under("dagsterWebserver", _POD),
        "dagsterWebserver.replicaCount",
        "dagsterWebserver.service.type",
        "dagsterWebserver.service.port",
        "dagsterWebserver.service.annotations.*",
        "dagsterWebserver.pathPrefix",
        "dagsterWebserver.enableReadOnly",
        "dagsterWebserver.dbStatementTimeout",
        "dagsterWebserver.dbPoolRecycle",
        "dagsterWebserver.logLevel",
        # dagster/subschema/daemon.py: Daemon, RunCoordinator, QueuedRunCoordinatorConfig,
        # TagConcurrencyLimit, RunRetries, Sensors, Schedules
        *_under("dagsterDaemon", _IMAGE),
        *_under("dagsterDaemon", _POD),
        "dagsterDaemon.enabled",
        "dagsterDaemon.heartbeatTolerance",
        "dagsterDaemon.runCoordinator.enabled",
        "dagsterDaemon.runCoordinator.type",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.maxConcurrentRuns",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits[].key",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits[].value",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits[].limit",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueIntervalSeconds",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueUseThreads",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueNumWorkers",
        "dagsterDaemon.runRetries.enabled",
        "dagsterDaemon.runRetries.maxRetries",
        "dagsterDaemon.runRetries.retryOnAssetOrOpFailure",
        # runMonitoring is dict[str, Any] in the schema: the keys templates/configmap-instance.yaml
        # renders
        "dagsterDaemon.runMonitoring.enabled",
        "dagsterDaemon.runMonitoring.startTimeoutSeconds",
        "dagsterDaemon.runMonitoring.cancelTimeoutSeconds",
        "dagsterDaemon.runMonitoring.maxResumeRunAttempts",
        "dagsterDaemon.runMonitoring.pollIntervalSeconds",
        "dagsterDaemon.runMonitoring.freeSlotsAfterRunEndSeconds",
        "dagsterDaemon.sensors.useThreads",
        "dagsterDaemon.sensors.numWorkers",
        "dagsterDaemon.schedules.useThreads",
        "dagsterDaemon.schedules.numWorkers",
        # dagster/subschema/run_launcher.py: RunLauncher, K8sRunLauncherConfig, RunK8sConfig
        "runLauncher.type",
        "runLauncher.config.k8sRunLauncher.imagePullPolicy",
        "runLauncher.config.k8sRunLauncher.jobNamespace",
        "runLauncher.config.k8sRunLauncher.loadInclusterConfig",
        "runLauncher.config.k8sRunLauncher.envConfigMaps[].*",
        "runLauncher.config.k8sRunLauncher.envSecrets[].*",
        "runLauncher.config.k8sRunLauncher.envVars[]",
        "runLauncher.config.k8sRunLauncher.labels.*",
        "runLauncher.config.k8sRunLauncher.resources.*",
        "runLauncher.config.k8sRunLauncher.failPodOnRunFailure",
        "runLauncher.config.k8sRunLauncher.runK8sConfig.containerConfig.*",
        "runLauncher.config.k8sRunLauncher.runK8sConfig.podSpecConfig.*",
        "runLauncher.config.k8sRunLauncher.runK8sConfig.podTemplateSpecMetadata.*",
        "runLauncher.config.k8sRunLauncher.runK8sConfig.jobSpecConfig.*",
        "runLauncher.config.k8sRunLauncher.runK8sConfig.jobMetadata.*",
        # dagster/subschema/compute_log_manager.py: ComputeLogManager, S3ComputeLogManager
        "computeLogManager.type",
        "computeLogManager.config.s3ComputeLogManager.bucket",
        "computeLogManager.config.s3ComputeLogManager.prefix",
        "computeLogManager.config.s3ComputeLogManager.endpointUrl",
        "computeLogManager.config.s3ComputeLogManager.region",
        "computeLogManager.config.s3ComputeLogManager.uploadInterval",
        "computeLogManager.config.s3ComputeLogManager.skipEmptyFiles",
        # dagster_user_deployments/subschema/user_deployments.py: UserDeployments, UserDeployment
        "dagster-user-deployments.enabled",
        "dagster-user-deployments.enableSubchart",
        "dagster-user-deployments.imagePullSecrets[].*",
        "dagster-user-deployments.deployments[].name",
        "dagster-user-deployments.deployments[].codeServerArgs[]",
        "dagster-user-deployments.deployments[].dagsterApiGrpcArgs[]",
        "dagster-user-deployments.deployments[].includeConfigInLaunchedRuns.enabled",
        "dagster-user-deployments.deployments[].port",
        "dagster-user-deployments.deployments[].replicaCount",
        *_under("dagster-user-deployments.deployments[]", _IMAGE),
        *_under("dagster-user-deployments.deployments[]", _POD),
        # dagster/subschema/retention.py: Retention, TickRetention, TickRetentionByType
        "retention.enabled",
        "retention.schedule.purgeAfterDays",
        "retention.sensor.purgeAfterDays",
        "retention.sensor.purgeAfterDays.skipped",
        "retention.sensor.purgeAfterDays.success",
        "retention.sensor.purgeAfterDays.failure",
        "retention.sensor.purgeAfterDays.started",
        # dagster/subschema/telemetry.py: Telemetry
        "telemetry.enabled",
    }
)

# The commands the chart runs in our image (templates/helpers/_helpers.tpl and
# charts/dagster-user-deployments/templates/deployment-user.yaml): `{...}` is filled from values.
WEBSERVER_COMMAND = "dagster-webserver -h 0.0.0.0 -p {port} -w /dagster-workspace/workspace.yaml"
DAEMON_COMMAND = "dagster-daemon run -w /dagster-workspace/workspace.yaml"
CODE_SERVER_COMMAND = "dagster code-server start -h 0.0.0.0 -p {port}"  # + codeServerArgs
# The chart writes this workspace file itself; the commands above only need it to exist.
CHART_WORKSPACE_FILE = "/dagster-workspace/workspace.yaml"
