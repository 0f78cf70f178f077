"""Guardrails over the source tree (R1.3, STYLE rule 1): no view or API handler reads a model
except through the scoped query layer, and every tenant model declares its scope."""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

SRC = Path(__file__).resolve().parents[2] / "src" / "crm"
HANDLER_FILES = [
    p
    for p in SRC.rglob("*.py")
    if p.name.startswith(("views", "api", "settings_views")) and "migrations" not in p.parts
]
FORBIDDEN_ATTRS = {"_base_manager", "raw", "extra", "cursor"}
MANAGERS = {"objects", "_default_manager"}
# The chokepoint itself: scoped() / scoped_get() are implemented there.
EXEMPT = {"core/api.py"}


def unscoped_uses(source: str) -> list[tuple[int, str]]:
    """Lines where ``X.objects`` is used for anything but ``.visible_to(...)``."""
    tree = ast.parse(source)
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in MANAGERS:
                parent = parents.get(node)
                if not (isinstance(parent, ast.Attribute) and parent.attr == "visible_to"):
                    problems.append((node.lineno, node.attr))
            elif node.attr in FORBIDDEN_ATTRS:
                problems.append((node.lineno, node.attr))
    return problems


def test_guard_finds_an_unscoped_query() -> None:
    # R1.3: the guard itself works
    bad = "def v(request):\n    return Customer.objects.filter(pk=1)\n"
    good = "def v(request):\n    return Customer.objects.visible_to(request.user).filter(pk=1)\n"
    assert unscoped_uses(bad) == [(2, "objects")]
    assert unscoped_uses(good) == []
    assert unscoped_uses("x = Model._base_manager.all()") == [(1, "_base_manager")]


def test_no_view_or_api_handler_reads_unscoped() -> None:
    # R1.3: every query in a view or API handler goes through visible_to / get_scoped_or_404
    assert HANDLER_FILES, "no handler files found"
    offenders = {
        str(p.relative_to(SRC)): hits
        for p in HANDLER_FILES
        if str(p.relative_to(SRC)) not in EXEMPT and (hits := unscoped_uses(p.read_text()))
    }
    assert offenders == {}


def test_every_tenant_model_declares_its_scope() -> None:
    # R1.1 R1.3: a tenant model without a scoped manager and a scope declaration fails here
    missing = []
    for model in apps.get_models():
        if not issubclass(model, TenantModel):
            continue
        if not isinstance(model._default_manager.get_queryset(), ScopedQuerySet):
            missing.append(f"{model._meta.label}: manager is not scoped")
        spec = getattr(model, "scope", None)
        if not isinstance(spec, ScopeFields):
            missing.append(f"{model._meta.label}: no scope")
        elif not spec.via and not spec.personal and not getattr(model, "scope_module", ""):
            missing.append(f"{model._meta.label}: no scope_module")
        if issubclass(model, ScopedModel) and spec is ScopedModel.scope and not spec.via:
            missing.append(f"{model._meta.label}: inherits the default scope without declaring one")
    assert missing == []


def test_every_tenant_index_and_unique_constraint_leads_with_org() -> None:
    # R11.3 (DESIGN: scale-out): org_id leads every composite index and unique constraint
    bad = []
    for model in apps.get_models():
        if not issubclass(model, TenantModel):
            continue
        for index in model._meta.indexes:
            if index.fields and index.fields[0] != "org":
                bad.append(f"{model._meta.label}.{index.name}")
        for constraint in model._meta.constraints:
            fields = getattr(constraint, "fields", ())
            if fields and fields[0] != "org":
                bad.append(f"{model._meta.label}.{constraint.name}")
    assert bad == []
