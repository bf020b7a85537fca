"""Read the SAM template as plain data, for the template tests and the local stand-ins.

CloudFormation's short-form tags become their long form: `!Ref x` is `{"Ref": "x"}`, `!GetAtt a.b` is
`{"Fn::GetAtt": ["a", "b"]}`, `!Condition c` is `{"Condition": "c"}`, and any other `!Foo v` is
`{"Fn::Foo": v}`, whether v is a scalar, a sequence or a mapping.
"""

from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus the CloudFormation short-form tags."""


def _construct_short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other kind of node
        raise TypeError(f"unexpected YAML node for !{tag_suffix}: {node!r}")
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "Resource.Attribute"; nested attributes ("Db.Endpoint.Address") keep their dots.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_short_form)


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template (the repository's template.yaml by default)."""
    text = Path(path).read_text(encoding="utf-8")
    template = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(template, dict):
        raise ValueError(f"{path}: a template must be a mapping, got {type(template).__name__}")
    return template


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    """The template's parameters that have a Default, with the value CloudFormation passes: a string."""
    defaults: dict[str, str] = {}
    for name, parameter in template.get("Parameters", {}).items():
        if "Default" not in parameter:
            continue
        default = parameter["Default"]
        if isinstance(default, bool):
            defaults[name] = "true" if default else "false"
        elif isinstance(default, list):
            defaults[name] = ",".join(str(item) for item in default)
        else:
            defaults[name] = str(default)
    return defaults


def function_properties(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The properties of function `name` as SAM deploys it: its own merged over the template's
    `Globals.Function` (maps key by key, lists the global items first, anything else its own)."""
    own: dict[str, Any] = template["Resources"][name]["Properties"]
    return _merged(template.get("Globals", {}).get("Function", {}), own)


def _merged(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merged(base[key], value)
        elif isinstance(value, list) and isinstance(base.get(key), list):
            merged[key] = [*base[key], *value]
        else:
            merged[key] = value
    return merged
