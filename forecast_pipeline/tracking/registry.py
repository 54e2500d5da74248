"""The registered forecasting model and its aliases.

Every weekly training registers a new version of one registered model. Two MLflow 3 aliases
say what each version is for (no deprecated stages):

* ``champion``: the version that publishes forecasts;
* ``challenger``: the newest version that was not promoted (removed when it is promoted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

if TYPE_CHECKING:
    from forecast_pipeline.ml.forecaster import Forecaster

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_MODEL_NAME",
    "ModelRegistry",
    "RegisteredVersion",
    "UnknownVersionError",
]

from forecast_pipeline.tracking.names import CHALLENGER, CHAMPION, DEFAULT_MODEL_NAME


class UnknownVersionError(LookupError):
    """The registered model has no such version."""


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of the registered model."""

    name: str
    version: int
    run_id: str | None
    aliases: tuple[str, ...]
    created_ms: int
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _version(mv, aliases: tuple[str, ...] | None = None) -> RegisteredVersion:
    return RegisteredVersion(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id,
        aliases=tuple(mv.aliases or ()) if aliases is None else aliases,
        created_ms=int(mv.creation_timestamp or 0),
        tags=dict(mv.tags or {}),
    )


class ModelRegistry:
    """The versions and aliases of one registered model, through an ``MlflowClient``."""

    def __init__(self, client: MlflowClient, name: str) -> None:
        self.client = client
        self.name = name

    def version(self, version: int) -> RegisteredVersion:
        try:
            return _version(self.client.get_model_version(self.name, str(version)))
        except MlflowException as error:
            raise UnknownVersionError(
                f"registered model {self.name!r} has no version {version}"
            ) from error

    def versions(self) -> list[RegisteredVersion]:
        """Every version, oldest first."""
        try:
            model = self.client.get_registered_model(self.name)
            found = self.client.search_model_versions(f"name = '{self.name}'")
        except MlflowException:
            return []
        # search results carry no aliases: they come from the registered model
        by_version: dict[int, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            by_version.setdefault(int(version), []).append(alias)
        versions = (
            _version(mv, tuple(sorted(by_version.get(int(mv.version), [])))) for mv in found
        )
        return sorted(versions, key=lambda v: v.version)

    def by_alias(self, alias: str) -> RegisteredVersion | None:
        try:
            return _version(self.client.get_model_version_by_alias(self.name, alias))
        except MlflowException:
            return None

    def champion(self) -> RegisteredVersion | None:
        return self.by_alias(CHAMPION)

    def challenger(self) -> RegisteredVersion | None:
        return self.by_alias(CHALLENGER)

    def mark_challenger(self, version: int) -> None:
        self.version(version)
        self.client.set_registered_model_alias(self.name, CHALLENGER, str(version))

    def promote(self, version: int) -> RegisteredVersion | None:
        """Make ``version`` the champion; returns the previous champion (if any). The
        ``challenger`` alias is removed when it pointed at ``version``."""
        self.version(version)
        previous = self.champion()
        self.client.set_registered_model_alias(self.name, CHAMPION, str(version))
        challenger = self.challenger()
        if challenger is not None and challenger.version == version:
            self.client.delete_registered_model_alias(self.name, CHALLENGER)
        return previous

    def set_tags(self, version: int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, str(version), key, value)

    def load_forecaster(self, version: int) -> Forecaster:
        """The trained forecaster of ``version``, loaded through its pyfunc."""
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(self.version(version).uri)
        return model.unwrap_python_model().forecaster
