"""Reading the deploy files the way their tools read them, and what the code says they must give.

No Docker engine, cluster or network is needed: compose's variable interpolation, the
Dockerfile's instructions and the command lines are interpreted here; the commands are resolved
through the click command trees of the console scripts installed in this environment (the same
packages the image installs).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import dagster as dg
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
PACKAGE_DIR = REPO_ROOT / "forecast_pipeline"

# ------------------------------------------------------------------------------------------------
# compose: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, $$

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True)
class Interpolation:
    name: str
    op: str  # "", "-", ":-", "?", ":?", "+", ":+"
    arg: str


class MissingVariableError(ValueError):
    """A ``${VAR:?...}`` whose variable is unset (compose stops with this message)."""


def interpolations(text: str) -> list[Interpolation]:
    """Every variable reference in ``text``, ``$$`` escapes left out."""
    found = []
    for match in _INTERPOLATION.finditer(text):
        if match["escaped"]:
            continue
        name = match["braced"] or match["bare"]
        found.append(Interpolation(name, match["op"] or "", match["arg"] or ""))
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` as compose interpolates it with the variables ``env``."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = env.get(name)
        empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and empty:
            raise MissingVariableError(f"{name}: {arg}")
        if op.endswith("-") and empty:
            return arg
        if op.endswith("+"):
            return "" if empty else arg
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def interpolate_all(value: Any, env: Mapping[str, str]) -> Any:
    """A parsed YAML document with every string interpolated."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, Mapping):
        return {key: interpolate_all(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate_all(item, env) for item in value]
    return value


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file (comments and blank lines skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's ``environment`` (mapping or ``KEY=VALUE`` list) as a mapping."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def as_argv(command: str | Sequence[str]) -> list[str]:
    """A compose ``command``/``entrypoint`` (string or list) as an argument vector."""
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


# ------------------------------------------------------------------------------------------------
# Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def copies(self) -> list[tuple[list[str], str]]:
        """``COPY`` instructions without ``--from``: (sources, destination)."""
        result = []
        for instruction in self.all("COPY"):
            words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
            if "--from=" not in instruction.args:
                result.append((words[:-1], words[-1]))
        return result

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def workdir(self) -> str:
        workdirs = self.all("WORKDIR")
        return workdirs[-1].args if workdirs else "/"


def read_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, ``ARG`` defaults declared before the first ``FROM`` applied."""
    logical: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append((start, pending + stripped))
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, rest = text.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = interpolate(words[0], args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, rest, number))
    return stages


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction (``CMD ["a", "b"]``)."""
    return json.loads(args[args.index("[") :])


# ------------------------------------------------------------------------------------------------
# what the code reads


def resource_env_vars(value: Any) -> set[str]:
    """Names of the ``dg.EnvVar`` settings inside resources (nested resources included)."""
    if isinstance(value, dg.EnvVar):
        return {value.env_var_name}
    if isinstance(value, dg.ConfigurableResource):
        return resource_env_vars({name: getattr(value, name) for name in type(value).model_fields})
    if isinstance(value, Mapping):
        return set().union(*(resource_env_vars(item) for item in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(resource_env_vars(item) for item in value))
    return set()


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def env_var_literals(package_dir: Path = PACKAGE_DIR) -> set[str]:
    """Every ``EnvVar("NAME")`` (or ``EnvVar.int("NAME")`` ...) written in the package."""
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            is_env_var = _called(func) == "EnvVar" or (
                isinstance(func, ast.Attribute) and _called(func.value) == "EnvVar"
            )
            first = node.args[0]
            if is_env_var and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def production_env_vars() -> set[str]:
    """What the production deployment's code reads through ``dg.EnvVar``: its resources, plus
    every ``EnvVar`` written anywhere in the package except those only the local resources use."""
    from forecast_pipeline.deployments import Deployment, resources_for

    production = resource_env_vars(resources_for(Deployment.PRODUCTION))
    local_only = resource_env_vars(resources_for(Deployment.LOCAL)) - production
    return production | (env_var_literals() - local_only)


def yaml_env_refs(value: Any) -> set[str]:
    """Names in ``{env: NAME}`` values of a Dagster YAML file (dagster.yaml, workspace.yaml)."""
    if isinstance(value, Mapping):
        if set(value) == {"env"} and isinstance(value["env"], str):
            return {value["env"]}
        return set().union(*(yaml_env_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(yaml_env_refs(item) for item in value))
    return set()


def settings_env_names(settings: type[BaseSettings], *, required_only: bool) -> set[str]:
    """The environment variables of a pydantic-settings class (its prefix + field names)."""
    prefix = settings.model_config.get("env_prefix", "")
    return {
        f"{prefix}{name}".upper()
        for name, info in settings.model_fields.items()
        if info.is_required() or not required_only
    }


def environ_reads(func: Callable[..., Any]) -> set[str]:
    """Names read with ``os.environ.get("NAME")`` or ``os.environ["NAME"]`` in a function."""
    tree = ast.parse(inspect.getsource(func).lstrip())

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    names = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and is_environ(node.func.value) and node.args:
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


# ------------------------------------------------------------------------------------------------
# command lines

CONSOLE_SCRIPTS = ("forecast-pipeline", "dagster", "dagster-daemon", "dagster-webserver", "mlflow")


def console_script(name: str) -> click.Command:
    """The click command behind an installed console script."""
    found = list(entry_points(group="console_scripts", name=name))
    if not found:
        raise LookupError(f"no installed package provides the command {name!r}")
    entry = found[0]
    loaded = entry.load()
    if isinstance(loaded, click.Command):
        return loaded
    # dagster's scripts are functions calling the click group `cli` of the same module
    command = getattr(importlib.import_module(entry.module), "cli", None)
    if not isinstance(command, click.Command):
        raise LookupError(f"{name!r} ({entry.value}) is not a click command")
    return command


def resolve_command(argv: Sequence[str], files: Mapping[str, Path] | None = None) -> list[str]:
    """Parse ``argv`` with the real command tree: the subcommands must exist and the options and
    arguments must be accepted (types, choices, files). Paths inside the container are mapped
    to the repository files they hold with ``files``. Returns the subcommand path."""
    files = files or {}
    args = [str(files.get(arg, arg)) for arg in argv[1:]]
    command = console_script(argv[0])
    path = [argv[0]]
    parent = None
    while isinstance(command, click.Group):
        context = click.Context(command, info_name=path[-1], parent=parent)
        if not args or args[0].startswith("-"):
            raise click.UsageError(f"`{' '.join(path)}` needs a subcommand", context)
        sub = command.get_command(context, args[0])
        if sub is None:
            raise click.UsageError(f"`{' '.join(path)}` has no command {args[0]!r}", context)
        path.append(args.pop(0))
        parent, command = context, sub
    command.make_context(path[-1], args, parent=parent)
    return path


def shell_commands(text: str, launchers: frozenset[str] = frozenset()) -> Iterator[list[str]]:
    """Invocations of the console scripts in shell lines: a script at the start of a command
    (after a pipe, ``&&``, ``;`` or ``$(``), after ``--`` (``kubectl exec POD -- cmd``) or after
    one of ``launchers`` (the compose service of ``docker compose run SERVICE cmd``). Backslash
    continuations are joined; a script name elsewhere (a Helm release called dagster) is an
    argument, not a command."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            continue
        current: list[str] | None = None
        previous: str | None = None
        for token in tokens:
            operator = set(token) <= set("|&;()<>")
            if current is not None and operator:
                yield current
                current = None
            elif current is not None:
                current.append(token)
            elif Path(token).name in CONSOLE_SCRIPTS and (
                previous is None
                or previous == "--"
                or previous in launchers
                or set(previous) <= set("|&;()<>")
                or previous.endswith("$")
            ):
                current = [Path(token).name]
            previous = token
        if current is not None:
            yield current
