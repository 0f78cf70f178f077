"""The scoped query layer: the one place where tenancy and data scopes are applied.

Every business model inherits :class:`ScopedModel` and declares ``scope = ScopeFields(...)`` and
``scope_module`` (the permission module, e.g. ``"customers"``). Reads go through
``Model.objects.visible_to(user, action)``; single records through :func:`get_scoped_or_404`.

A record is visible to a user when it belongs to the user's organisation, one of the user's roles
grants ``module:action``, and its owner is inside that role's data scope (own, department,
department and below, all, chosen departments), or the user is a collaborator on it.
Several roles combine with OR.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.db.models.lookups import Exact
from django.db.models.sql import Query
from django.utils.translation import gettext_lazy as _

from .errors import NotFound
from .planner import joins_as_written

if TYPE_CHECKING:
    from crm.org.models import User


class DataScope(models.TextChoices):
    """How far a role sees: the owner of a record must fall inside it."""

    SELF = "self", _("Own records")
    DEPT = "dept", _("Own department")
    DEPT_TREE = "dept_tree", _("Department and below")
    ALL = "all", _("Whole organisation")
    CUSTOM = "custom", _("Chosen departments")


@dataclass(frozen=True)
class ScopeFields:
    """How a model's rows relate to people.

    owner:      lookup to the owning user (``"owner"``); None for organisation-wide models.
    shared:     many-to-many lookup to users who also see the row (collaborators).
    via:        delegate to a parent's scope (``ScopeFields(via="quote")`` on a quote line).
    org_wide:   every member of the organisation with the module permission sees every row.
    personal:   only the owner sees the row, whatever the roles (notifications, own tokens).
    also:       a callable ``(user) -> Q`` ORed in (e.g. public-pool rows without an owner;
                queries shared with the user's department on a personal model).
    confidential: the row has ``is_confidential`` and ``confidential_viewers``: once flagged it
                is seen only by its owner, collaborators, named viewers and organisation admins
                (R1.4), and so are the rows of other models that point at it (see scope_q).
    """

    owner: str | None = "owner"
    shared: str | None = None
    via: str | None = None
    org_wide: bool = False
    personal: bool = False
    also: Callable[[User], Q] | None = None
    confidential: bool = False


def _prefix_q(q: Q, prefix: str) -> Q:
    """Return ``q`` with every lookup prefixed by ``prefix__`` (to reach a parent's fields)."""
    clone = Q()
    clone.connector, clone.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            clone.children.append(_prefix_q(child, prefix))
        else:
            key, value = child  # type: ignore[misc]
            clone.children.append((f"{prefix}__{key}", value))
    return clone


def _owners_in(user: User, owner: str, people: Q) -> Q:
    """``owner`` is one of the organisation's users matching ``people``: a semi-join on the
    owner column (an index probe per row, or a hash) instead of a join through the owner's
    department, which PostgreSQL could only evaluate after joining every row."""
    from crm.org.models import User as UserModel

    people_ids = UserModel._base_manager.filter(people, org_id=user.org_id).values("pk")
    return Q(**{f"{owner}_id__in": people_ids})


def _people_q(user: User, role_scope: str, departments: list[Any]) -> Q | None:
    """The users (besides ``user``) whose rows a single role shows ``user``: a condition on
    the organisation's users, None for a scope without colleagues (SELF, or a department scope
    of a user who has no department)."""
    if role_scope == DataScope.DEPT and user.department_id:
        return Q(department_id=user.department_id)
    if role_scope == DataScope.DEPT_TREE and user.department is not None:
        return Q(department__path__startswith=user.department.path)
    if role_scope == DataScope.CUSTOM and departments:
        people = Q(pk__in=[])
        for d in departments:
            people |= Q(department__path__startswith=d.path)
        return people
    return None


def _owner_q(user: User, owner: str, role_scope: str, departments: list[Any]) -> Q | None:
    """The rows a single role sees through ownership. None means: every row of the org."""
    if role_scope == DataScope.ALL:
        return None
    own = Q(**{f"{owner}_id": user.pk})
    people = _people_q(user, role_scope, departments)
    if people is None:
        return own
    if role_scope == DataScope.CUSTOM:
        return own | _owners_in(user, owner, people)
    return _owners_in(user, owner, people)


@models.Field.register_lookup
class AnyOf(models.Lookup):
    """``field__any_of=<queryset>``: ``field = ANY(ARRAY(subquery))`` on PostgreSQL, ``IN
    (subquery)`` elsewhere. PostgreSQL runs the subquery once (an InitPlan) and then finds the
    rows by index, whereas ``IN (subquery)`` becomes a semi-join that the planner places after
    every other join of a wide ``select_related`` (beyond ``join_collapse_limit``), so a user's
    89 opportunities were found by joining all of the organisation's first."""

    lookup_name = "any_of"

    def get_prep_lookup(self) -> Any:
        if isinstance(self.rhs, models.QuerySet):  # a subquery needs no order (nor its cost)
            self.rhs = _unordered(self.rhs)
        elif isinstance(self.rhs, Query) and not self.rhs.combined_queries:
            self.rhs = self.rhs.clone()
            self.rhs.clear_ordering(force=True, clear_default=True)
        return super().get_prep_lookup()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "postgresql":
            if _pinned(compiler.query.where, self.lhs):
                # the query names the row (``pk = 42``): the array is a filter on that row, not
                # an index key. Kept indexable, PostgreSQL probed the primary key once per id of
                # the array (5,000 for a rep: 0.5-0.9 s for one opportunity page).
                return f"({lhs} + 0) = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)
            return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)
        return f"{lhs} IN {rhs}", (*lhs_params, *rhs_params)


models.ForeignObject.register_lookup(AnyOf)  # ``owner_id__any_of``: a foreign key's column


def _pinned(where: Any, column: Any) -> bool:
    """Whether ``where`` (ANDed conditions) fixes ``column`` to one plain value."""
    if getattr(where, "negated", False) or getattr(where, "connector", "AND") != "AND":
        return False
    for child in getattr(where, "children", ()):
        if isinstance(child, Exact):
            if child.lhs == column and not hasattr(child.rhs, "as_sql"):
                return True
        elif _pinned(child, column):
            return True
    return False


def _unordered(qs: models.QuerySet) -> models.QuerySet:
    """``qs`` without any ordering, the model's default included (a subquery arm)."""
    qs = qs._chain()  # type: ignore[attr-defined]
    qs.query.clear_ordering(force=True, clear_default=True)
    return qs


def _ids_of(arms: list[models.QuerySet]) -> Q:
    """``pk`` is one of the ids the arms select (one subquery, UNION ALL of the arms)."""
    ids = arms[0] if len(arms) == 1 else _unordered(arms[0].union(*arms[1:], all=True))
    return Q(pk__any_of=ids)


def _self_only_rule(user: User, model: Any, spec: ScopeFields) -> tuple[Q, Q] | None:
    """For a user whose every grant is SELF on a model with collaborators or confidential
    viewers and nothing else ORed in: the rule as one ``pk IN (own UNION ALL shared UNION ALL
    named viewer)`` (and the same without the viewers: the ownership rule). Each arm is an
    index scan, so the user's few rows are found directly; the ORed form (owner OR hashed
    subquery) could only filter every row of the organisation (R11.2). Rows the model's
    ``also`` adds (customers in a public pool the user may see) are ORed to the list: an index
    scan of their own, so the planner reads both with a bitmap OR."""
    if not (spec.shared or spec.confidential):
        return None
    owned = model._base_manager.filter(org_id=user.org_id, **{f"{spec.owner}_id": user.pk})
    return _listed_rule(user, model, spec, None, [_unordered(owned.values("pk"))])


def _team_rule(
    user: User, model: Any, spec: ScopeFields, grants: list[tuple[str, list[Any]]]
) -> tuple[Q, Q] | None:
    """For a user with a department scope (none ALL) on a model with collaborators or
    confidential viewers: ``owner = ANY(the user and their people) OR id = ANY(rows shared
    with them or naming them as viewer)`` (and the same without the viewers: the ownership
    rule). Each side is an index scan (``opp_owner_idx``, the primary key) that PostgreSQL
    combines with a bitmap OR, so a manager's team is counted from its owners' index entries;
    the ORed subqueries (``owner IN (…) OR id IN (…) OR …``) could only filter every row of
    the organisation (R11.2)."""
    from crm.org.models import User as UserModel

    if not (spec.shared or spec.confidential):
        return None
    people = Q(pk=user.pk)
    for role_scope, departments in grants:
        extra = _people_q(user, role_scope, departments)
        if extra is not None:
            people |= extra
    team = UserModel._base_manager.filter(people, org_id=user.org_id).values("pk")
    return _listed_rule(user, model, spec, Q(**{f"{spec.owner}_id__any_of": team}), [])


def _listed_rule(
    user: User, model: Any, spec: ScopeFields, owners: Q | None, arms: list[models.QuerySet]
) -> tuple[Q, Q]:
    """(rule, ownership rule) of the compact rules: ``owners`` (a condition on the owner
    column, or None) OR ``id = ANY(arms ∪ rows shared with the user)``; the rule adds the
    confidential rows naming the user as viewer to the id list, and both OR the model's
    ``also``."""
    if spec.shared:
        arms = [*arms, _unordered(_through_rows(model, spec.shared, user))]

    def either(id_arms: list[models.QuerySet]) -> Q:
        if not id_arms:
            return owners  # type: ignore[return-value]  # a team rule without shared rows
        return _ids_of(id_arms) if owners is None else owners | _ids_of(id_arms)

    ownership = rule = either(arms)
    if spec.confidential:
        viewers = model._base_manager.filter(
            org_id=user.org_id, is_confidential=True, confidential_viewers=user.pk
        ).values("pk")
        rule = either([*arms, _unordered(viewers)])
    if spec.also is not None:
        also = spec.also(user)
        rule, ownership = rule | also, ownership | also
    return rule, ownership


def _compact_rule(
    user: User, model: Any, spec: ScopeFields, grants: list[tuple[str, list[Any]]]
) -> tuple[Q, Q] | None:
    """(rule, ownership rule) written for the index, for a user without an ALL grant on a
    model with collaborators or confidential viewers; None: the general ORed rule."""
    if all(s == DataScope.SELF for s, _depts in grants):
        return _self_only_rule(user, model, spec)
    if all(s != DataScope.ALL for s, _depts in grants):
        return _team_rule(user, model, spec, grants)
    return None


def _through_rows(model: Any, name: str, user: User) -> models.QuerySet:
    """Ids of ``model`` rows whose many-to-many ``name`` lists ``user``."""
    field = model._meta.get_field(name)
    through = field.remote_field.through
    source = field.m2m_field_name()
    target = field.m2m_reverse_field_name()
    return through._base_manager.filter(**{target: user.pk}).values(source)


class _Unrestricted:
    """Marker: the user sees every row of their organisation."""


UNRESTRICTED = _Unrestricted()


def scope_q(user: User, model: type[models.Model], action: str) -> Q | _Unrestricted | None:
    """Compile the visibility rule of ``user`` for ``model`` and ``action``.

    Returns UNRESTRICTED (whole organisation), a Q, or None (nothing visible).
    Memoised on the user object for the duration of the request.
    """
    cache: dict[tuple[str, str], Any] = user.__dict__.setdefault("_scope_cache", {})
    key = (model._meta.label, action)
    if key in cache:
        return cache[key]
    spec: ScopeFields = model.scope  # type: ignore[attr-defined]
    result: Q | _Unrestricted | None
    compact_ownership: Q | None = None
    if spec.personal:
        result = Q(**{f"{spec.owner}_id": user.pk})
        if spec.also:
            result |= spec.also(user)
    elif spec.via:
        parent = model._meta.get_field(spec.via).related_model
        parent_rule = scope_q(user, parent, action)  # type: ignore[arg-type]
        result = _prefix_q(parent_rule, spec.via) if isinstance(parent_rule, Q) else parent_rule
    else:
        module = model.scope_module  # type: ignore[attr-defined]
        grants = user.role_grants(module, action)
        if not grants:
            result = None
        elif spec.org_wide or spec.owner is None:
            result = UNRESTRICTED
        elif compact := _compact_rule(user, model, spec, grants):
            result, compact_ownership = compact
        else:
            parts = [_owner_q(user, spec.owner, s, depts) for s, depts in grants]
            if any(q is None for q in parts):
                result = UNRESTRICTED
            else:
                combined = Q(pk__in=[])
                for q in parts:
                    combined |= q  # type: ignore[operator]
                if spec.shared:
                    combined |= Q(pk__in=_through_rows(model, spec.shared, user))
                if spec.also:
                    combined |= spec.also(user)
                result = combined
    # >>> H-CONF
    # Confidential records (R1.4): whatever the data scope, a confidential row, and every row
    # of another model that points at one (a follow-up, quote, contract, receipt, ticket… of a
    # confidential customer or opportunity), is seen only by the confidential row's owner,
    # collaborators and named viewers, and by organisation admins (settings:configure).
    # Rows reached through ``via`` inherit this from their parent's rule.
    memo: dict[Any, Any] = cache
    if compact_ownership is not None:  # the compact rule already holds the named viewers
        memo[(key[0], key[1], "ownership")] = compact_ownership
    else:
        memo[(key[0], key[1], "ownership")] = result
    if isinstance(result, Q) and spec.confidential and compact_ownership is None:
        viewers = model._meta.get_field("confidential_viewers")
        through = viewers.remote_field.through  # type: ignore[union-attr]
        result |= Q(
            is_confidential=True,
            pk__in=through._base_manager.filter(
                **{viewers.m2m_reverse_field_name(): user.pk}  # type: ignore[union-attr]
            ).values(viewers.m2m_field_name()),  # type: ignore[union-attr]
        )
    if result is not None and not spec.personal and not spec.via and not user.is_org_admin:
        restriction = _confidential_restriction(user, model)
        if restriction is not None:
            result = restriction if isinstance(result, _Unrestricted) else result & restriction
    # <<< H-CONF
    cache[key] = result
    return result


# >>> H-CONF helpers
def _direct_confidential_links(model: Any) -> list[tuple[str, Any]]:
    links: list[tuple[str, Any]] = []
    spec = getattr(model, "scope", None)
    if isinstance(spec, ScopeFields) and spec.confidential:
        links.append(("pk", model))
    for field in model._meta.concrete_fields:
        target = field.related_model if field.many_to_one else None
        if target is None or target is model or not isinstance(target, type):
            continue
        spec = getattr(target, "scope", None)
        if isinstance(spec, ScopeFields) and spec.confidential:
            links.append((field.name, target))
    return links


@functools.cache
def _confidential_links(model: Any) -> tuple[tuple[str, Any], ...]:
    """``(lookup, confidential model)`` pairs whose confidential rows ``model`` rows expose:
    the row itself (``pk``) when ``model`` is confidential-aware, and every foreign key to a
    confidential-aware model (a customer's parent company is not hidden with it). A model
    without such keys follows its foreign keys one step further (a write-off → its contract →
    the contract's customer and opportunity)."""
    direct = _direct_confidential_links(model)
    if direct:
        return tuple(direct)
    links: list[tuple[str, Any]] = []
    for field in model._meta.concrete_fields:
        target = field.related_model if field.many_to_one else None
        if target is None or target is model or not isinstance(target, type):
            continue
        for lookup, conf in _direct_confidential_links(target):
            links.append((f"{field.name}__{lookup}", conf))
    return tuple(links)


def confidential_hidden(user: User, model: type[models.Model]) -> models.QuerySet:
    """Primary keys of ``model``'s confidential rows of the user's organisation that ``user``
    may not see: not its owner, not a collaborator, not a named viewer (admins see them all,
    so callers do not ask for them). One scan of the partial index on confidential rows."""
    spec: ScopeFields = model.scope  # type: ignore[attr-defined]
    qs = model._base_manager.filter(org_id=user.org_id, is_confidential=True)
    if spec.owner:
        qs = qs.exclude(**{f"{spec.owner}_id": user.pk})
    for name in (spec.shared, "confidential_viewers"):
        if not name:
            continue
        field = model._meta.get_field(name)
        through = field.remote_field.through  # type: ignore[union-attr]
        source = field.m2m_field_name()  # type: ignore[union-attr]
        target = field.m2m_reverse_field_name()  # type: ignore[union-attr]
        qs = qs.exclude(pk__in=through._base_manager.filter(**{target: user.pk}).values(source))
    return qs.values("pk")


#: up to this many hidden confidential rows are inlined as a list of ids; beyond, a subquery
CONFIDENTIAL_INLINE = 500


@functools.cache
def _confidential_models() -> tuple[Any, ...]:
    """Every model whose rows can be flagged confidential (customers, opportunities)."""
    from django.apps import apps

    return tuple(
        m
        for m in apps.get_models()
        if isinstance(getattr(m, "scope", None), ScopeFields) and m.scope.confidential  # type: ignore[attr-defined]
    )


def _hidden_ids(user: User, model: Any) -> list[int] | models.QuerySet:
    """The ids of :func:`confidential_hidden`, read once per user object (request): a short
    list inlined into the rule (usually empty: then the rule costs nothing), or the subquery
    itself when there are many. The first call reads them for every confidential-aware model
    in one statement (one query per page instead of one per model)."""
    cache: dict[Any, Any] = user.__dict__.setdefault("_scope_cache", {})
    key = ("confidential-hidden", model._meta.label)
    if key not in cache:
        targets = [
            m for m in _confidential_models() if ("confidential-hidden", m._meta.label) not in cache
        ]
        if model not in targets:
            targets.append(model)
        found = _read_hidden(user, targets)
        for target in targets:
            ids = found.get(target._meta.label, [])
            label_key = ("confidential-hidden", target._meta.label)
            cache[label_key] = (
                ids if len(ids) <= CONFIDENTIAL_INLINE else confidential_hidden(user, target)
            )
    return cache[key]


def _read_hidden(user: User, targets: list[Any]) -> dict[str, list[int]]:
    """``label -> ids`` of the hidden confidential rows of each model (at most
    ``CONFIDENTIAL_INLINE + 1`` each), in one ``UNION ALL`` statement."""
    from django.db import connections, router

    parts: list[str] = []
    params: list[Any] = []
    for index, target in enumerate(targets):
        sql, arm_params = confidential_hidden(user, target).order_by().query.sql_with_params()
        # Django's own compiled SQL; its values stay parameters
        limit = CONFIDENTIAL_INLINE + 1
        parts.append(f"SELECT {index} AS k, h.* FROM ({sql} LIMIT {limit}) h")  # noqa: S608
        params.extend(arm_params)
    found: dict[str, list[int]] = {}
    connection = connections[router.db_for_read(targets[0])]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for index, pk in cursor.fetchall():
            found.setdefault(targets[index]._meta.label, []).append(pk)
    return found


def _confidential_restriction(user: User, model: type[models.Model]) -> Q | None:
    """The condition ``user``'s rule for ``model`` gains for confidential rows (None: none)."""
    restriction = Q()
    for lookup, target in _confidential_links(model):
        hidden = _hidden_ids(user, target)
        if isinstance(hidden, list) and not hidden:
            continue
        restriction &= ~Q(**{f"{lookup}__in": hidden})
    return restriction or None


def ownership_q(user: User, model: type[models.Model], action: str) -> Q | _Unrestricted | None:
    """``scope_q`` without the confidential-record restriction: the rule on owners alone (for
    "whose records does this user's scope cover", e.g. the team of a follow-up calendar)."""
    scope_q(user, model, action)
    cache: dict[Any, Any] = user.__dict__["_scope_cache"]
    return cache[(model._meta.label, action, "ownership")]


# <<< H-CONF helpers


class ScopedQuerySet(models.QuerySet):
    """QuerySet of every tenant model. ``visible_to`` is the only way views read rows."""

    #: (user id, action) of the ``visible_to`` this queryset went through (kept by its clones),
    #: so ``get_scoped_or_404`` does not apply the same rule twice
    _scoped_for: tuple[Any, str] | None = None

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]
        clone._scoped_for = self._scoped_for
        return clone

    def for_org(self, org_id: int) -> Self:
        """Rows of one organisation, for jobs that act as the system (no data scope)."""
        return self.filter(org_id=org_id)

    def visible_to(self, user: User | Any, action: str = "view") -> Self:
        """Rows that ``user`` may ``action``. Anonymous or inactive users see nothing."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if getattr(user, "org_id", None) is None:
            return self.none()
        qs = self.filter(org_id=user.org_id)
        rule = scope_q(user, self.model, action)
        if rule is None:
            return self.none()
        # >>> H-FIELD
        from .fieldaccess import attach

        qs = attach(qs, user)  # field-level permissions: redact what the viewer may not see
        # <<< H-FIELD
        if not isinstance(rule, _Unrestricted):
            qs = qs.filter(rule)
        qs._scoped_for = (user.pk, action)
        return qs


def get_scoped_or_404(
    model_or_qs: type[models.Model] | models.QuerySet,
    user: User | Any,
    pk: Any,
    action: str = "view",
) -> Any:
    """Fetch one record ``user`` may ``action``; missing and out-of-scope both raise NotFound."""
    qs: Any = (
        model_or_qs
        if isinstance(model_or_qs, models.QuerySet)
        else model_or_qs._default_manager.all()
    )
    if getattr(qs, "_scoped_for", None) != (getattr(user, "pk", None), action):
        qs = qs.visible_to(user, action)
    try:
        with joins_as_written(qs):
            return qs.get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def assert_in_scope(user: User | Any, obj: models.Model, action: str = "view") -> None:
    """Re-check inside a write's transaction that the saved row is still in the actor's scope."""
    if not type(obj)._default_manager.visible_to(user, action).filter(pk=obj.pk).exists():  # type: ignore[attr-defined]
        raise NotFound()
