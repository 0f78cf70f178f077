"""Contracts, receivable plans and receipts of the benchmark data set (issue 8), with bulk inserts.

Built on top of the opportunities (``generate_contracts``, called by ``bench.generate.prepare``):
per organisation ``sizes.contracts`` contracts (100,000 at full scale, 5,000 at ``--small``), one
per won opportunity, as the services would have left them after signing and collecting:

- the contract's customer, owner, name and amount are the opportunity's (actual amount, else the
  expected one), signed 0–20 days after the win (never after today), running a year, status
  *signed* (nothing received yet), *executing* (part received) or *completed* (all received);
- 1–4 receivable plans whose amounts add up to the contract amount to the cent (the last one takes
  the rounding), with their share in per cent, due 0–4 months apart from the signing;
- receipts, one per collected plan, allocated to it: of the plans already due, 70 % are collected
  in full, 12 % in part and 18 % not at all (overdue); of the plans not yet due, 15 % are collected
  early in full. No receipt is dated after today;
- the denormalised totals (the plan's and the contract's ``received_amount``) are the sums of the
  allocations, as ``receipt_services._take`` leaves them;
- numbers ``HT-YYYY-00001`` and ``HK-YYYY-00001`` as ``crm.core.numbering.next_number`` gives them,
  unique per organisation, and the organisation's sequences set past them, so a contract or
  receipt recorded through the product afterwards takes the next number.
"""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench._django import ensure_django

ensure_django()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.core.models import Sequence  # noqa: E402
from crm.finance.choices import PaymentMethod, ReceiptStatus  # noqa: E402
from crm.finance.models import Receipt, ReceiptAllocation, ReceivablePlan  # noqa: E402
from crm.pipeline.choices import OpportunityStatus  # noqa: E402
from crm.pipeline.models import Opportunity  # noqa: E402
from crm.sales.choices import ContractStatus  # noqa: E402
from crm.sales.models import Contract  # noqa: E402

BATCH = 2_000
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

CONTRACT_TABLES = [
    Contract._meta.db_table,
    ReceivablePlan._meta.db_table,
    Receipt._meta.db_table,
    ReceiptAllocation._meta.db_table,
]

#: Share of the plans already due that are collected in full, in part (the rest: overdue).
DUE_FULL, DUE_PARTIAL = 0.70, 0.12
#: Share of the plans not yet due that are collected early (in full).
EARLY_FULL = 0.15
PLAN_COUNT_WEIGHTS = {1: 30, 2: 35, 3: 25, 4: 10}
METHOD_WEIGHTS = {
    PaymentMethod.TRANSFER: 80,
    PaymentMethod.ACCEPTANCE: 10,
    PaymentMethod.ONLINE: 6,
    PaymentMethod.CHEQUE: 3,
    PaymentMethod.OTHER: 1,
}
PAYMENT_TERMS = {
    1: "合同签订后一次性支付",
    2: "首付款 + 验收款",
    3: "首付款、到货款、验收款",
    4: "首付款、到货款、验收款、质保金",
}


def _split(amount: Decimal, n: int, rng: random.Random) -> list[Decimal]:
    """``n`` positive parts of ``amount`` (two decimals) that add up to it exactly."""
    cents = int(amount / CENT)
    if n <= 1 or cents < n:
        return [amount]
    weights = [rng.uniform(0.5, 1.5) for _ in range(n)]
    total = sum(weights)
    parts = [max(1, int(cents * w / total)) for w in weights[:-1]]
    last = cents - sum(parts)
    if last < 1:  # pragma: no cover - weights ≥ 0.5 keep every part positive
        return [amount]
    return [Decimal(p) * CENT for p in [*parts, last]]


def _day_at(moment: date, now: datetime) -> datetime:
    """Mid-morning of ``moment`` (the time a row of that day is stamped), never after ``now``."""
    stamped = timezone.make_aware(datetime.combine(moment, datetime.min.time())) + timedelta(
        hours=10
    )
    return min(stamped, now)


def _won(org_id: int, n: int, rng: random.Random) -> list[tuple]:
    rows = list(
        Opportunity.objects.filter(org_id=org_id, status=OpportunityStatus.WON)
        .order_by("pk")
        .values_list(
            "pk",
            "name",
            "customer_id",
            "owner_id",
            "actual_amount",
            "expected_amount",
            "actual_close_date",
            "closed_at",
        )
    )
    rng.shuffle(rows)
    return sorted(rows[:n], key=lambda r: (r[6] or r[7].date(), r[0]))  # numbers in signing order


def build_contracts(
    org_id: int, n: int, rng: random.Random, now: datetime, *, counter: Any = None
) -> dict[str, int]:
    """Contracts, plans, receipts and allocations of one organisation (see the module's text).
    Returns the rows inserted per table."""
    today = timezone.localdate(now)
    year = today.year
    won = _won(org_id, n, rng)
    contracts: list[Contract] = []
    plan_rows: list[list[dict[str, Any]]] = []  # per contract: the plans and what they receive
    for i, (
        opp_id,
        name,
        customer_id,
        owner_id,
        actual,
        expected,
        closed_on,
        closed_at,
    ) in enumerate(won, start=1):
        amount = actual if actual and actual > 0 else expected
        if not amount or amount <= 0:
            amount = Decimal("100000.00")
        won_on = closed_on or timezone.localdate(closed_at)
        won_on = min(won_on, today)
        signed_on = won_on + timedelta(days=rng.randint(0, min(20, (today - won_on).days)))
        k = rng.choices(list(PLAN_COUNT_WEIGHTS), weights=list(PLAN_COUNT_WEIGHTS.values()))[0]
        parts = _split(amount, k, rng)
        due_on = signed_on + timedelta(days=rng.randint(0, 15))
        plans = []
        for seq, part in enumerate(parts, start=1):
            if seq > 1:
                due_on = due_on + timedelta(days=rng.randint(30, 120))
            if due_on <= today:
                roll = rng.random()
                received = (
                    part
                    if roll < DUE_FULL
                    else (part * Decimal(rng.uniform(0.2, 0.8))).quantize(CENT)
                    if roll < DUE_FULL + DUE_PARTIAL
                    else ZERO
                )
                low = max(due_on - timedelta(days=5), signed_on)
                high = max(min(due_on + timedelta(days=25), today), low)
            else:  # collected early: some day between the signing and today
                received = part if rng.random() < EARLY_FULL else ZERO
                low, high = signed_on, today
            received_on = low + timedelta(days=rng.randint(0, (high - low).days))
            plans.append(
                {
                    "sequence": seq,
                    "due_on": due_on,
                    "amount": part,
                    "percentage": (part * 100 / amount).quantize(CENT),
                    "received": received,
                    "received_on": received_on,
                }
            )
        total_received = sum((p["received"] for p in plans), ZERO)
        status = (
            ContractStatus.COMPLETED
            if total_received == amount
            else ContractStatus.EXECUTING
            if total_received > 0
            else ContractStatus.SIGNED
        )
        last_move = max([signed_on, *(p["received_on"] for p in plans if p["received"] > 0)])
        contracts.append(
            Contract(
                org_id=org_id,
                created_by_id=owner_id,
                created_at=_day_at(won_on, now),
                updated_at=_day_at(last_move, now),
                number=f"HT-{year}-{i:05d}",
                name=(name or "合同")[:200],
                customer_id=customer_id,
                opportunity_id=opp_id,
                owner_id=owner_id,
                signer_id=owner_id,
                status=status,
                amount=amount,
                currency="CNY",
                signed_on=signed_on,
                starts_on=signed_on,
                ends_on=signed_on + timedelta(days=365),
                payment_terms=PAYMENT_TERMS[len(plans)],
                received_amount=total_received,
            )
        )
        plan_rows.append(plans)
    rows: dict[str, int] = {t: 0 for t in CONTRACT_TABLES}
    methods = list(METHOD_WEIGHTS)
    method_weights = list(METHOD_WEIGHTS.values())
    receipt_no = 0
    fields = (Contract, ReceivablePlan, Receipt)
    from bench.generate import explicit_timestamps  # the generator's helper (import cycle)

    with explicit_timestamps(*fields), transaction.atomic():
        for start in range(0, len(contracts), BATCH):
            chunk = contracts[start : start + BATCH]
            Contract.objects.bulk_create(chunk, batch_size=BATCH)
            plans: list[ReceivablePlan] = []
            pending: list[tuple[Contract, dict[str, Any], ReceivablePlan]] = []
            for contract, specs in zip(chunk, plan_rows[start : start + BATCH], strict=True):
                for spec in specs:
                    plan = ReceivablePlan(
                        org_id=org_id,
                        created_at=contract.created_at,
                        updated_at=contract.updated_at,
                        contract_id=contract.pk,
                        sequence=spec["sequence"],
                        due_on=spec["due_on"],
                        amount=spec["amount"],
                        percentage=spec["percentage"],
                        received_amount=spec["received"],
                    )
                    plans.append(plan)
                    if spec["received"] > 0:
                        pending.append((contract, spec, plan))
            ReceivablePlan.objects.bulk_create(plans, batch_size=BATCH)
            receipts: list[Receipt] = []
            for contract, spec, _plan in pending:
                receipt_no += 1
                stamped = _day_at(spec["received_on"], now)
                receipts.append(
                    Receipt(
                        org_id=org_id,
                        created_by_id=contract.owner_id,
                        created_at=stamped,
                        updated_at=stamped,
                        number=f"HK-{year}-{receipt_no:05d}",
                        contract_id=contract.pk,
                        customer_id=contract.customer_id,
                        owner_id=contract.owner_id,
                        received_on=spec["received_on"],
                        amount=spec["received"],
                        currency="CNY",
                        method=rng.choices(methods, weights=method_weights)[0],
                        reference=f"{rng.randrange(10**15, 10**16)}",
                        status=ReceiptStatus.CONFIRMED,
                    )
                )
            Receipt.objects.bulk_create(receipts, batch_size=BATCH)
            ReceiptAllocation.objects.bulk_create(
                (
                    ReceiptAllocation(
                        org_id=org_id, receipt_id=r.pk, plan_id=p.pk, amount=spec["received"]
                    )
                    for r, (_c, spec, p) in zip(receipts, pending, strict=True)
                ),
                batch_size=BATCH,
            )
            rows[Contract._meta.db_table] += len(chunk)
            rows[ReceivablePlan._meta.db_table] += len(plans)
            rows[Receipt._meta.db_table] += len(receipts)
            rows[ReceiptAllocation._meta.db_table] += len(receipts)
        for key, value in ((f"HT-{year}", len(contracts)), (f"HK-{year}", receipt_no)):
            Sequence.objects.update_or_create(org_id=org_id, key=key, defaults={"value": value})
    if counter is not None:
        for table, count in rows.items():
            counter.add(table, count)
    return rows


def clear_contracts(org_ids: list[int] | None = None) -> None:
    """Remove the contracts' part of the data set (to build it again at another size)."""
    if connection.vendor == "postgresql" and org_ids is None:
        from bench.generate import _bench_db_name

        _bench_db_name()  # never on another database
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(CONTRACT_TABLES)} CASCADE")
        Sequence.objects.filter(key__regex=r"^(HT|HK)-\d{4}$").delete()
        return
    orgs = {} if org_ids is None else {"org_id__in": org_ids}
    ReceiptAllocation.objects.filter(**orgs).delete()
    Receipt.objects.filter(**orgs).delete()
    ReceivablePlan.objects.filter(**orgs).delete()
    Contract.objects.filter(**orgs).delete()
    Sequence.objects.filter(key__regex=r"^(HT|HK)-\d{4}$", **orgs).delete()


def generate_contracts(
    org_ids: list[int], n: int, *, seed: int = 8, log: Any = print
) -> dict[str, Any]:
    """Build ``n`` contracts per organisation (after removing any there), indexes deferred, then
    ANALYZE; returns the report kept in the data-set marker."""
    from bench.generate import Counter, _analyze, deferred_indexes

    started = time.perf_counter()
    now = timezone.now().replace(microsecond=0)
    if Contract.objects.exists():
        log("Removing the contracts of another size …")
        clear_contracts()
    counter = Counter()
    with deferred_indexes(CONTRACT_TABLES, log=log):
        for index, org_id in enumerate(org_ids, start=1):
            log(f"Organisation {index}: {n:,} contracts with their plans and receipts")
            build_contracts(org_id, n, random.Random(seed * 7_000 + index), now, counter=counter)
    load_seconds = time.perf_counter() - started
    _analyze(CONTRACT_TABLES)
    seconds = time.perf_counter() - started
    report = {
        "count": n,
        "generated_at": now.isoformat(),
        "rows": counter.rows,
        "rows_total": counter.total,
        "seconds": round(seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "rows_per_second": round(counter.total / max(load_seconds, 1e-9)),
    }
    log(
        f"Contracts done: {counter.total:,} rows in {seconds:.0f} s "
        f"({report['rows_per_second']:,} rows/s, indexes included)"
    )
    return report
