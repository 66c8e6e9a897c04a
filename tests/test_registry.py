"""The rule registry is explicit, complete and consistent, and every rule has its own tests."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import audit.rules
from audit.rules import REGISTRY
from audit.rules.base import FAMILIES, RULE_ID, Rule

TESTS = Path(__file__).parent


def _rule_classes_in_package() -> set[type[Rule]]:
    found: set[type[Rule]] = set()
    for module_info in pkgutil.iter_modules(audit.rules.__path__):
        module = importlib.import_module(f"audit.rules.{module_info.name}")
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            concrete = issubclass(obj, Rule) and not inspect.isabstract(obj) and "id" in vars(obj)
            if concrete and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_every_rule_module_is_registered() -> None:
    registered = {type(rule) for rule in REGISTRY}
    missing = _rule_classes_in_package() - registered
    assert not missing, f"rules defined but not in REGISTRY: {sorted(c.__name__ for c in missing)}"


def test_ids_and_names_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in REGISTRY]
    names = [rule.name for rule in REGISTRY]
    assert len(ids) == len(set(ids))
    assert len(names) == len(set(names))
    for rule in REGISTRY:
        assert RULE_ID.match(rule.id), rule.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
        assert rule.family in FAMILIES, rule.family
        assert rule.summary and rule.explanation and rule.fix, rule.id
        assert len(rule.explanation) > 60, f"{rule.id} explanation is too thin to help anyone"


def test_input_rules_run_last() -> None:
    families = [rule.family for rule in REGISTRY]
    first_input = families.index("input")
    assert all(family == "input" for family in families[first_input:])


def test_every_rule_id_is_exercised_by_a_test() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.rglob("test_*.py") if p.name != "test_registry.py")
    untested = [rule.id for rule in REGISTRY if f'"{rule.id}"' not in text]
    assert not untested, f"rules without caught / not-caught tests: {untested}"
