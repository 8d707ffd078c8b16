"""Loading a configuration file: TOML, included files, validation, secrets.

``load_consortium(path)`` returns a ready ``Consortium`` or raises ``ConfigError`` with
every issue found, each located in its file by line and column where it has one:

* a file that cannot be read, or TOML that does not parse (its line and column);
* ``include``: further files (globs relative to the including file) that add nodes,
  so that a large consortium can keep one file per member; a node defined twice is
  an error;
* the listeners' hosts from ``INTERLEND_LISTEN_HOST`` and ``INTERLEND_ADMIN_HOST``
  when they are set (``config.environment``);
* the models (unknown keys with a "did you mean", wrong types, bad values);
* the consortium graph (``config.consortium``);
* secrets: every ``{ env = … }`` or ``{ file = … }`` reference must resolve, unless
  ``check_secrets`` is false (for checking a file on a machine without them); an
  admin bearer token (``gateway.admin.tokens``) must also be at least
  ``ADMIN_TOKEN_MIN`` characters long.  ``admin_tokens`` reads those tokens again when
  the admin port starts;
* the caller's ``checks`` of other files the configuration names on this machine
  (the TLS certificates and keys), with the secrets and under the same switch.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .consortium import Consortium, build_consortium
from .environment import apply_listener_environment
from .errors import ConfigError, ConfigIssue, KeyPath
from .models import AdminListener, Config, SecretRef
from .positions import PositionIndex, index_positions
from .secrets import read_secret

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["admin_tokens", "load_consortium", "parse_config", "resolve_secrets"]

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _read(path: Path) -> tuple[dict[str, Any], PositionIndex]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.of(
            [ConfigIssue((), f"cannot read the file: {exc.strerror}", file=str(path))]
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError.of(
            [ConfigIssue((), f"the file is not UTF-8 (byte {exc.start})", file=str(path))]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        message = _TOML_POSITION.sub("", str(exc)).strip()
        line, column = (int(found.group(1)), int(found.group(2))) if found else (None, None)
        raise ConfigError.of(
            [
                ConfigIssue(
                    (),
                    f"TOML syntax error: {message}",
                    "see https://toml.io for the syntax",
                    str(path),
                    line,
                    column,
                )
            ]
        ) from None
    return data, index_positions(str(path), text)


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The model whose fields are valid at ``path`` (for "did you mean" hints)."""
    model: type[BaseModel] | None = Config
    dict_key_next = False
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue  # an index into a tuple of models
        if dict_key_next:
            dict_key_next = False
            continue  # a key of a dict of models, such as a node id
        info = model.model_fields.get(part)
        if info is None:
            return None
        dict_key_next = typing.get_origin(info.annotation) is dict
        model = _inner_model(info.annotation)
    return None if dict_key_next else model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as ``tuple[Terminal, ...]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _issues_from(error: ValidationError) -> Iterator[ConfigIssue]:
    for item in error.errors():
        path: KeyPath = tuple(item["loc"])
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        hint = ""
        if kind == "extra_forbidden":
            name = str(path[-1])
            model = _model_at(path[:-1])
            known = sorted(model.model_fields) if model is not None else []
            close = difflib.get_close_matches(name, known, n=1)
            message = f"unknown key {name!r}"
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        elif kind == "missing":
            message = "this key is required"
        elif kind.endswith(("_type", "_parsing")):
            got = type(item.get("input")).__name__
            message = f"{message} (got {got})"
        yield ConfigIssue(path, message, hint)


def _locate(
    issues: list[ConfigIssue], main: PositionIndex, node_files: Mapping[str, PositionIndex]
) -> list[ConfigIssue]:
    located = []
    for issue in issues:
        index = main
        if len(issue.path) > 1 and issue.path[0] == "nodes":
            index = node_files.get(str(issue.path[1]), main)
        position = index.locate(issue.path)
        line, column = position if position is not None else (None, None)
        located.append(issue.located(index.file, line, column))
    return located


def parse_config(path: str | Path) -> tuple[Config, Mapping[str, PositionIndex], PositionIndex]:
    """Read, merge and validate a configuration file and its includes.

    Returns:
        The validated configuration, the position index of each node's file, and the
        main file's index.

    Raises:
        ConfigError: The files cannot be read or parsed, or do not validate.
    """
    main_path = Path(path)
    data, main = _read(main_path)
    node_files: dict[str, PositionIndex] = dict.fromkeys(data.get("nodes", {}), main)
    issues: list[ConfigIssue] = []
    includes = data.get("include", [])
    if isinstance(includes, list):
        for index, pattern in enumerate(includes):
            matches = sorted(main_path.parent.glob(str(pattern)))
            if not matches:
                issues.append(
                    ConfigIssue(
                        ("include", index),
                        f"{pattern!r} matches no file",
                        f"paths are relative to {main_path.parent}",
                    )
                )
            for included in matches:
                extra, positions = _read(included)
                issues.extend(
                    ConfigIssue(
                        (key,),
                        f"an included file may only define nodes, not {key!r}",
                        file=str(included),
                        line=(positions.locate((key,)) or (None, None))[0],
                    )
                    for key in extra
                    if key != "nodes"
                )
                for node_id, node in extra.get("nodes", {}).items():
                    if node_id in node_files:
                        issues.append(
                            ConfigIssue(
                                ("nodes", node_id),
                                f"node {node_id!r} is also defined in {node_files[node_id].file}",
                                "each node is defined once",
                            ).located(
                                str(included),
                                *(positions.locate(("nodes", node_id)) or (None, None)),
                            )
                        )
                        continue
                    data.setdefault("nodes", {})[node_id] = node
                    node_files[node_id] = positions
    if issues:
        raise ConfigError.of(
            issue if issue.file is not None else _locate([issue], main, {})[0] for issue in issues
        )
    apply_listener_environment(data, os.environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError.of(_locate(list(_issues_from(exc)), main, node_files)) from None
    return config, node_files, main


ADMIN_TOKENS: KeyPath = ("gateway", "admin", "tokens")
ADMIN_TOKEN_MIN = 16
"""The shortest admin bearer token taken (a short one could be guessed over HTTP)."""
WEBHOOK_SECRET: KeyPath = ("gateway", "reports", "webhook", "secret")
WEBHOOK_SECRET_MIN = 16
"""The shortest webhook secret taken: an empty or short HMAC key lets anyone who guesses
it sign a settlement the receiver would book."""
COMMAND_ONLY_SECRETS: tuple[KeyPath, ...] = (
    WEBHOOK_SECRET,
    ("gateway", "ledger", "library_keys"),
)
"""Secrets only a command reads (``report settlement --webhook``, ``ledger settle``):
the daemon neither needs them nor reads them, so they can be kept out of its
environment (``check-config`` still reads them all)."""


def _admin_token_refs(listener: AdminListener | None) -> Iterator[tuple[KeyPath, SecretRef]]:
    for index, ref in enumerate(listener.tokens if listener is not None else ()):
        yield (*ADMIN_TOKENS, index), ref


def _secret_refs(consortium: Consortium) -> Iterator[tuple[KeyPath, SecretRef]]:
    yield from _admin_token_refs(consortium.config.gateway.admin)
    if consortium.config.gateway.patron_key_secret is not None:
        yield ("gateway", "patron_key_secret"), consortium.config.gateway.patron_key_secret
    if consortium.config.gateway.state.password is not None:
        yield ("gateway", "state", "password"), consortium.config.gateway.state.password
    webhook = consortium.config.gateway.reports.webhook
    if webhook is not None:
        yield ("gateway", "reports", "webhook", "secret"), webhook.secret
    ledger = consortium.config.gateway.ledger
    if ledger.key is not None:
        yield ("gateway", "ledger", "key"), ledger.key
    if ledger.record_key is not None:
        yield ("gateway", "ledger", "record_key"), ledger.record_key
    for library, ref in ledger.library_keys.items():
        yield ("gateway", "ledger", "library_keys", library), ref
    for node_id, node in consortium.nodes.items():
        if node.ils.password is not None:
            yield ("nodes", node_id, "ils", "password"), node.ils.password
        for index, peer in enumerate(node.ncip_peers):
            for name in ("api_key", "bearer_token"):
                ref = getattr(peer, name)
                if ref is not None:
                    yield ("nodes", node_id, "ncip_peers", index, name), ref


def resolve_secrets(
    consortium: Consortium, *, skip: Iterable[KeyPath] = ()
) -> tuple[dict[KeyPath, str], list[ConfigIssue]]:
    """Read every secret the configuration refers to, but those under ``skip``.

    Returns:
        The secrets by the key path that refers to them, and an issue for each one
        that cannot be read.
    """
    skipped = tuple(skip)
    return _read_secrets(
        (path, ref)
        for path, ref in _secret_refs(consortium)
        if not any(path[: len(prefix)] == prefix for prefix in skipped)
    )


def _read_secrets(
    refs: Iterable[tuple[KeyPath, SecretRef]],
) -> tuple[dict[KeyPath, str], list[ConfigIssue]]:
    """Read each reference: the values by path, and an issue for each one that cannot
    be read or is not fit for its use (an admin token too short to be safe)."""
    secrets: dict[KeyPath, str] = {}
    issues: list[ConfigIssue] = []
    for path, ref in refs:
        try:
            value = read_secret(env=ref.env, file=ref.file)
        except LookupError as exc:
            issues.append(
                ConfigIssue(path, f"secret {ref} cannot be read: {exc}", "set it before starting")
            )
            continue
        if path[: len(ADMIN_TOKENS)] == ADMIN_TOKENS and len(value.strip()) < ADMIN_TOKEN_MIN:
            issues.append(
                ConfigIssue(
                    path,
                    f"the admin token in {ref} is shorter than {ADMIN_TOKEN_MIN} characters",
                    "make one with `openssl rand -hex 32`",
                )
            )
            continue
        if path == WEBHOOK_SECRET and len(value.strip()) < WEBHOOK_SECRET_MIN:
            issues.append(
                ConfigIssue(
                    path,
                    f"the webhook secret in {ref} is shorter than {WEBHOOK_SECRET_MIN} "
                    "characters: anyone could sign a settlement with it",
                    "make one with `openssl rand -hex 32` and give the receiver the same",
                )
            )
            continue
        secrets[path] = value
    return secrets, issues


def admin_tokens(listener: AdminListener) -> tuple[str, ...]:
    """The admin port's bearer tokens (``gateway.admin.tokens``), read now.

    Raises:
        ConfigError: A token cannot be read, or is shorter than ``ADMIN_TOKEN_MIN``.
    """
    found, issues = _read_secrets(_admin_token_refs(listener))
    if issues:
        raise ConfigError.of(issues)
    return tuple(found.values())


def load_consortium(
    path: str | Path,
    *,
    check_secrets: bool = True,
    checks: Iterable[Callable[[Consortium], Iterable[ConfigIssue]]] = (),
    skip_secrets: Iterable[KeyPath] = (),
) -> Consortium:
    """Load, validate and resolve a consortium configuration.

    Args:
        path: The main configuration file.
        check_secrets: Also require every secret reference to resolve, and run
            ``checks``.
        checks: Further checks of what the configuration names on this machine (the
            TLS files, whose reading is not this layer's: ``adapters.tls``); their
            issues are located and reported with the secrets'.
        skip_secrets: Secrets not required (``COMMAND_ONLY_SECRETS`` for the daemon).

    Raises:
        ConfigError: With every issue found, located in its file.
    """
    config, node_files, main = parse_config(path)
    try:
        consortium = build_consortium(config)
    except ConfigError as exc:
        raise ConfigError.of(_locate(list(exc.issues), main, node_files)) from None
    if check_secrets:
        _, issues = resolve_secrets(consortium, skip=skip_secrets)
        for check in checks:
            issues.extend(check(consortium))
        if issues:
            raise ConfigError.of(_locate(issues, main, node_files))
    return consortium
