"""``name__has_pair="华信"``: the two-character substring search that an index can serve.

On PostgreSQL it compiles to ``crm_bigrams(UPPER(name)) @> ARRAY[UPPER('华信')]``, which the GIN
indexes of migration ``customers.0008`` answer; elsewhere to the plain case-insensitive
``LIKE '%华信%'``. For a two-character term the two are the same condition: a text contains the
pair exactly when the pair is one of its two-character substrings (R3.2 search, R11.2).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.lookups import IContains


@models.CharField.register_lookup
class HasPair(models.Lookup):
    lookup_name = "has_pair"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        if connection.vendor != "postgresql" or len(str(self.rhs)) != 2:
            return IContains(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return (
            f"crm_bigrams(UPPER({lhs})) @> ARRAY[UPPER(%s)]::text[]",
            (*lhs_params, str(self.rhs)),
        )
