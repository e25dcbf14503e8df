"""Settings of a Debezium connector that Connect accepts but the replicator cannot use, each
said in one line: what happens to the data, and what to set instead."""

import difflib
from collections.abc import Mapping

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
FLATTENING = ("ExtractNewRecordState", "ExtractNewDocumentState")
# Settings that carry a name of the user's (a transform's alias, a table, a client setting
# passed through): never taken for a misspelt setting of the connector.
FREE_PREFIXES = ("transforms.", "predicates.", "topic.creation.", "key.converter.",
                 "value.converter.", "header.converter.", "producer.override.",
                 "consumer.override.", "admin.override.", "column.",
                 "snapshot.select.statement.overrides.")  # fmt: skip
OPERATIONS = {"c": "inserts", "u": "updates", "d": "deletes", "t": "truncates"}


def config_warnings(config: Mapping[str, str], known: frozenset[str] = frozenset()) -> list[str]:
    """Every warning for `config`; `known`: the settings Connect's validation listed."""
    return [
        *misspelt_settings(config, known),
        *_flattening(config),
        *_converters(config),
        *_decimals(config),
        *_skipped_operations(config),
    ]


def misspelt_settings(config: Mapping[str, str], known: frozenset[str]) -> list[str]:
    """Connect ignores a setting it does not know: one close to a known one is a typo."""
    plugin = config.get("connector.class", "").rsplit(".", 1)[-1]
    warnings = []
    for key in sorted(set(config) - known):
        if not known or key.startswith(FREE_PREFIXES):
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.85)
        if close:
            warnings.append(
                f"{key} is not a setting of {plugin}, and Connect ignores it: "
                f"did you mean {close[0]}?"
            )
    return warnings


def _flattening(config: Mapping[str, str]) -> list[str]:
    aliases = [a.strip() for a in config.get("transforms", "").split(",") if a.strip()]
    return [
        f"transforms.{alias}: {config[f'transforms.{alias}.type'].rsplit('.', 1)[-1]} flattens "
        "each change to its row, without the op, before and source.lsn the replicator orders "
        "and deletes by: every record would be dead-lettered; remove the transform"
        for alias in aliases
        if config.get(f"transforms.{alias}.type", "").endswith(FLATTENING)
    ]


def _converters(config: Mapping[str, str]) -> list[str]:
    return [
        f"{name}={config[name]}: the replicator reads Kafka Connect's JSON only ({JSON_CONVERTER})"
        for name in ("key.converter", "value.converter")
        if config.get(name, JSON_CONVERTER) != JSON_CONVERTER
    ]


def _decimals(config: Mapping[str, str]) -> list[str]:
    mode = config.get("decimal.handling.mode", "precise")
    if mode != "precise" or config.get("value.converter.schemas.enable", "true") != "false":
        return []
    return [
        "decimal.handling.mode=precise (Debezium's default) with value.converter.schemas."
        "enable=false: a numeric arrives as base64 bytes without its scale, which nothing can "
        "read exactly; set decimal.handling.mode=string, or keep the schemas"
    ]


def _skipped_operations(config: Mapping[str, str]) -> list[str]:
    listed = config.get("skipped.operations", "t")
    skipped = {op.strip() for op in listed.split(",")} - {"none", ""}
    if "skipped.operations" not in config:
        listed = "t (Debezium's default)"
    policy = config.get("topic.creation.default.cleanup.policy", "delete")
    warnings = [
        f"skipped.operations={listed}: {OPERATIONS[op]} never reach the stores"
        for op in sorted(skipped & {"c", "u", "d"})
    ]
    if "t" in skipped and "delete" in policy:
        warnings.append(
            f"skipped.operations={listed}: on topics kept by retention (cleanup.policy="
            f"{policy}) a TRUNCATE would leave every row in the stores without a word; set "
            "skipped.operations=none (the worker dead-letters a truncate, and verify --source "
            "postgres --repair removes its rows)"
        )
    if "t" not in skipped and "delete" not in policy:
        warnings.append(
            f"topic.creation.default.cleanup.policy={policy} with truncates not skipped: a "
            "compacted topic refuses a truncate record (it has no key) and the task fails; "
            "leave t in skipped.operations, or keep the topics by retention (delete)"
        )
    return warnings
