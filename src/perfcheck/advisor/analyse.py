"""The index advisor: from the workload in pg_stat_statements to the fewest indexes that
capture its real savings.

1. The top statements by total time are planned generically as they are (the baseline).
2. Each plan's predicates give candidate indexes on the tables big enough to matter;
   none that an existing valid index already serves.
3. With HypoPG, every candidate is created hypothetically at once and each statement is
   planned again: the planner picks, among all candidates, the ones that serve it best.
   A statement counts only when its cost drops by `min_saving` or more.
4. The chosen set is then thinned, least valuable first: an index is dropped when, for
   every statement it served, the others bring the cost within `min_saving` of what it
   achieves (so (a) goes when (a, b) serves its statements nearly as well). The same
   test as for recommending it: once the rest is built, a re-run would not ask for it.
   What is left is recommended, with each statement's cost before and after, and
   HypoPG's size estimate.
Without HypoPG in the database a heuristic from column statistics takes over (see
`heuristic.py`), and everything it says is marked unverified.
Before step 2, expression constants pg_stat_statements normalised away are recovered where
the statistics allow (`truncation.py`); after step 4, a BRIN may replace a btree on an
append-only time column, and GIN, which HypoPG cannot simulate, is proposed unverified
for containment conditions (`methods.py`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

from perfcheck.advisor import heuristic
from perfcheck.advisor.candidates import Candidate, generate, served_by_existing
from perfcheck.advisor.catalog import Catalog, Table
from perfcheck.advisor.ddl import key_words
from perfcheck.advisor.literals import with_types
from perfcheck.advisor.model import Advice, Options, Recommendation
from perfcheck.advisor import kinds, methods, truncation
from perfcheck.advisor.parameters import ColumnValues, param_uses, variants
from perfcheck.advisor.predicates import Predicate, SortNeed, plan_facts
from perfcheck.advisor.whatif import PlanError, WhatIf
from perfcheck.advisor.work import Budget, Work, recommendation
from perfcheck.advisor.workload import Statement, select
from perfcheck.pg.names import index_name
from perfcheck.pg.session import Session

SQL_PACKAGE = "perfcheck.advisor"  # its sql/ folder: the catalog queries the advisor runs
MAX_CANDIDATES_PER_TABLE = 40  # the planner's work grows with every hypothetical index


def analyse(session: Session, statement_rows: list[dict[str, Any]], extensions: dict[str, Any],
            options: Options | None = None) -> Advice:
    """Advice for the workload in `statement_rows` (the postgres.statements fact), on an
    open session (read-only is enough)."""
    started = time.monotonic()
    options = options or Options.from_thresholds()
    conn = session.conn
    own = session.using(SQL_PACKAGE)
    hypopg = extensions.get("hypopg")
    advice = Advice(mode="hypopg" if hypopg else "heuristic", server_version_num=conn.info.server_version,
                    options=asdict(options))
    statements, advice.skipped, advice.statements_total = select(statement_rows, options)
    budget = Budget(options.max_seconds)

    def query(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return own.rows(name, params, prepare=False)

    def skip(reason: str) -> None:
        advice.skipped[reason] = advice.skipped.get(reason, 0) + 1

    catalog = Catalog(query)
    with WhatIf(conn, hypopg["schema"] if hypopg else None) as whatif:
        works: list[Work] = []
        for statement in statements:
            if budget.over():
                skip(f"not reached within the {options.max_seconds:g} s budget")
                continue
            try:
                works.append(Work(statement, plan_facts(_plan_typed(whatif, statement))))
            except PlanError as exc:
                skip(str(exc))
                advice.unplannable += 1
        catalog.load({rel for work in works for rel in work.base.relations.values()})
        advice.statements_analysed = len(works)
        advice.statements_rewritten = sum(1 for w in works if w.statement.rewritten)
        values = ColumnValues(query, catalog.table_for)
        types = methods.ColumnTypes(query)
        works = _recovered(works, catalog, values, types, whatif, advice)
        works = _representative(works, values, whatif, budget)
        catalog.load({rel for work in works for rel in work.base.relations.values()})
        considered = []
        for work in works:
            reason = _find_candidates(work, catalog, options, values if hypopg else None)
            if reason:
                skip(reason)
            else:
                considered.append(work)
        advice.workload_ms = sum(w.statement.total_ms for w in works)
        if hypopg:
            recommendations = _verify(works, whatif, catalog, options, budget, types)
        else:
            recommendations = heuristic.choose(works, catalog, options)
        recommendations += methods.gin(considered, catalog, query, types, options, recommendations)
    _name(recommendations, query)
    advice.recommendations = sorted(recommendations, key=lambda r: (-(r.saved_ms or r.total_ms), r.label))
    advice.partial = budget.exhausted
    advice.elapsed_s = round(time.monotonic() - started, 3)
    return advice


def _representative(works: list[Work], values: ColumnValues, whatif: WhatIf, budget: Budget) -> list[Work]:
    """Each statement with parameters planned with values drawn from the column statistics,
    one Work per value set with its share of the calls; the generic plan where none fit."""
    out: list[Work] = []
    for work in works:
        found = []
        if work.statement.params and not budget.over():
            try:
                found = variants(work.statement, work.base.relations, values, whatif.plan)
            except PlanError:
                found = []
        if not found:
            out.append(work)
            continue
        out += [Work(v.statement, plan_facts(v.plan), share=v.share) for v in found]
    return out


def _recovered(works: list[Work], catalog: Catalog, values: ColumnValues, types: methods.ColumnTypes, whatif: WhatIf,
               advice: Advice) -> list[Work]:
    """Each statement whose expression constants pg_stat_statements normalised away
    (`date_trunc($1, ts)`, `payload->>$1`) with them written back where the statistics
    tell them apart (truncation.py), planned again; the reasons where they don't."""
    def table_types(relation):
        table = catalog.table_for(relation)
        return types(table.relation) if table else {}

    def rows_of(relation):
        table = catalog.table_for(relation)
        return table.rows if table else 0

    def note(reason: str) -> None:
        advice.unrecovered[reason] = advice.unrecovered.get(reason, 0) + 1

    out = []
    for work in works:
        statement = truncation.recover(work.statement, work.base.relations, values, table_types, rows_of, note)
        try:
            out.append(Work(statement, plan_facts(whatif.plan(statement))) if statement else work)
        except PlanError:
            out.append(work)
    return out


def _plan_typed(whatif: WhatIf, statement: Statement) -> dict[str, Any]:
    """The statement's plan; a parameter the planner cannot type (`$1 IS NULL`) is declared
    text and the statement planned again (at most a few times), keeping that text."""
    for _ in range(3):
        try:
            return whatif.plan(statement)
        except PlanError as exc:
            retyped = with_types(statement.query, str(exc.__cause__ or exc))
            if retyped is None:
                raise
            statement.query, statement.rewritten = retyped, True
    return whatif.plan(statement)


def _words(rec: Recommendation) -> list[str]:
    """An index name's words: its keys, then `incl` and `partial` for those kinds, and the method if not btree."""
    return key_words(rec.keys) + (["incl"] if rec.include else []) + (["partial"] if rec.where else []) + \
        ([rec.method] if rec.method != "btree" else [])


def _more_kinds(work: Work, catalog: Catalog, values: ColumnValues, base: list[Candidate]) -> list[Candidate]:
    """Partial, text_pattern_ops, OR-arm and INCLUDE candidates (kinds.py) on big tables."""
    statement, relations = work.statement, work.base.relations
    uses = param_uses(statement.query) or []
    out = kinds.partial(uses, statement.values, work.share, relations, values, catalog.table_for, base)
    out += kinds.like_prefix(uses, relations, values, catalog.table_for)
    out += kinds.or_arms(statement.query, relations, values, catalog.table_for)
    out += kinds.include(base + out, work.base.outputs, catalog.tables.get,
                         lambda table, column: (table.stats.get(column) or {}).get("avg_width"))
    return out


def _find_candidates(work: Work, catalog: Catalog, options: Options, values: ColumnValues | None = None) -> str | None:
    """Fill in the statement's predicates and candidates by table; a reason if it is left out."""
    facts = work.base
    tables: dict[tuple[str, str], Table] = {}
    conjuncts: dict[tuple[str, str], set[str]] = {}
    for relation in set(facts.relations.values()):
        table = catalog.table_for(relation)
        if table is not None:
            tables[table.relation] = table
            conjuncts.setdefault(table.relation, set()).update(facts.conjuncts.get(relation, set()))
    for predicate in facts.predicates:
        table = catalog.table_for(predicate.relation)
        if table is not None:
            moved = Predicate(table.relation, predicate.key, predicate.kind, predicate.op)
            if moved not in work.predicates.setdefault(table.relation, []):
                work.predicates[table.relation].append(moved)
    for need in facts.sorts:
        table = catalog.table_for(need.relation)
        if table is not None:
            work.sorts[table.relation] = SortNeed(table.relation, need.keys)
    # A partial index the plan already uses: its predicate holds for the statement.
    for table in tables.values():
        for index in table.indexes:
            if index.name in facts.indexes and index.predicate:
                conjuncts[table.relation] |= index.predicate
    big = {r: t for r, t in tables.items() if t.rows >= options.min_table_rows}
    if tables and not big:
        return f"reads only tables under {options.min_table_rows} rows"
    statement = work.statement
    if len(tables) == 1 and statement.calls:
        table = next(iter(tables.values()))
        if table.rows and statement.rows / statement.calls > options.max_selectivity * table.rows:
            return f"returns more than {options.max_selectivity:.0%} of its table"
    seen: set[Candidate] = set()
    for relation, table in big.items():
        for candidate in generate(table, work.predicates.get(relation, []), work.sorts.get(relation), conjuncts[relation]):
            if candidate not in seen:
                seen.add(candidate)
                work.candidates.append(candidate)
    if values is not None:
        for candidate in _more_kinds(work, catalog, values, list(work.candidates)):
            table = catalog.tables.get(candidate.table)
            if candidate not in seen and table is not None and candidate.table in big and \
                    served_by_existing(table, candidate, conjuncts.get(candidate.table, set())) is None:
                seen.add(candidate)
                work.candidates.append(candidate)
    return None


class _Hypothetical:
    """The candidates present as hypothetical indexes in the session."""

    def __init__(self, whatif: WhatIf):
        self.whatif = whatif
        self.oid_of: dict[Candidate, int] = {}
        self.by_name: dict[str, Candidate] = {}

    def add(self, candidate: Candidate) -> bool:
        try:
            oid, name = self.whatif.create(*candidate.table, candidate.key_sql, candidate.method,
                                           include=candidate.include, where=candidate.where)
        except PlanError:
            return False  # e.g. an expression HypoPG can't index
        self.oid_of[candidate], self.by_name[name] = oid, candidate
        return True

    def remove(self, candidate: Candidate) -> None:
        self.whatif.drop(self.oid_of.pop(candidate))

    def plan(self, work: Work) -> tuple[float, set[Candidate]] | None:
        try:
            facts = plan_facts(self.whatif.plan(work.statement))
        except PlanError:
            return None
        return facts.cost, {self.by_name[n] for n in facts.indexes if n in self.by_name}


def _verify(works: list[Work], whatif: WhatIf, catalog: Catalog, options: Options, budget: Budget,
            types: methods.ColumnTypes) -> list[Recommendation]:
    hypothetical = _Hypothetical(whatif)

    def real(work: Work, cost: float) -> bool:
        return cost <= (1 - options.min_saving) * work.base.cost

    try:
        # Every candidate at once, by the weight of the statements proposing it, capped per table.
        weight: dict[Candidate, float] = {}
        for work in works:
            for candidate in work.candidates:
                weight[candidate] = weight.get(candidate, 0.0) + work.statement.total_ms
        per_table: dict[tuple[str, str], int] = {}
        for candidate in sorted(weight, key=lambda c: (-weight[c], c.key_sql)):
            if per_table.get(candidate.table, 0) < MAX_CANDIDATES_PER_TABLE and hypothetical.add(candidate):
                per_table[candidate.table] = per_table.get(candidate.table, 0) + 1
        # The planner picks, for each statement, the candidates that serve it best.
        gains: list[Work] = []
        for work in works:
            if not work.candidates or budget.over():
                continue
            result = hypothetical.plan(work)
            if result and result[1] and real(work, result[0]):
                work.cost, work.used = result
                gains.append(work)
        chosen = {c for work in gains for c in work.used}
        for candidate in set(hypothetical.oid_of) - chosen:
            hypothetical.remove(candidate)
        _thin(chosen, gains, hypothetical, catalog, options, budget)
        btree_sizes = methods.prefer_brin(chosen, gains, hypothetical, whatif.size, catalog, types, options)
        recommendations = []
        for candidate in chosen:
            helped = [w for w in gains if candidate in w.used]
            if helped:
                rec = recommendation(catalog.tables[candidate.table], candidate, helped, verified=True)
                rec.size_bytes = whatif.size(hypothetical.oid_of[candidate])
                rec.btree_size_bytes = btree_sizes.get(candidate)
                recommendations.append(rec)
        return recommendations
    finally:
        whatif.reset()


def _thin(chosen: set[Candidate], gains: list[Work], hypothetical: _Hypothetical, catalog: Catalog,
          options: Options, budget: Budget) -> None:
    """Fewest and narrowest indexes: each chosen index, least valuable first, is replaced
    by a prefix of itself, or dropped, when that costs its statements less than
    `min_saving`: the test a re-run would apply once the rest is built, so that the
    advice is stable (building it, then auditing again, recommends nothing more)."""
    def value(candidate: Candidate) -> float:
        return sum(w.statement.total_ms * w.saving for w in gains if candidate in w.used)

    for candidate in sorted(chosen, key=lambda c: (value(c), -len(c.keys), c.key_sql)):
        if budget.over():
            return
        affected = [w for w in gains if candidate in w.used]
        table = catalog.tables[candidate.table]
        prefixes = [replace(candidate, keys=candidate.keys[:n], eq_keys=min(candidate.eq_keys, n), include=())
                    for n in range(1, len(candidate.keys))]
        if candidate.include:  # INCLUDE stays only if it beats the same keys without it by min_saving
            prefixes.append(replace(candidate, include=()))
        for replacement in [p for p in prefixes if p not in chosen and served_by_existing(table, p, set()) is None] + [None]:
            added = replacement is not None and hypothetical.add(replacement)
            if replacement is not None and not added:
                continue
            hypothetical.remove(candidate)
            trial = {}
            for work in affected:
                result = hypothetical.plan(work)
                if result is None or not (work.cost > (1 - options.min_saving) * result[0] and
                                          result[0] <= (1 - options.min_saving) * work.base.cost):
                    break
                trial[id(work)] = result
            if len(trial) == len(affected):
                chosen.discard(candidate)
                if replacement is not None:
                    chosen.add(replacement)
                for work in affected:
                    work.cost, work.used = trial[id(work)]
                break
            if added:
                hypothetical.remove(replacement)
            hypothetical.add(candidate)


def _name(recommendations: list[Recommendation], query) -> None:
    """Index names of at most 63 bytes that don't clash with another relation, except an
    INVALID index of the same name on the same table: a failed build that apply-indexes repairs."""
    for rec in recommendations:
        rec.name = index_name(rec.table, _words(rec))
    if not recommendations:
        return
    wanted = sorted({(r.schema, r.name) for r in recommendations})
    taken = {(row["schema"], row["name"]): row for row in
             query("names", {"schemas": [w[0] for w in wanted], "names": [w[1] for w in wanted]})}
    used: set[tuple[str, str]] = set()
    for rec in recommendations:
        suffix = 1
        while True:
            row = taken.get((rec.schema, rec.name))
            repairable = row is not None and row["table"] == rec.table and row["is_valid"] is False
            if (row is None or repairable) and (rec.schema, rec.name) not in used:
                break
            suffix += 1
            rec.name = index_name(rec.table, _words(rec), suffix=f"idx{suffix}")
            if (rec.schema, rec.name) not in taken:
                taken.update({(row["schema"], row["name"]): row for row in
                              query("names", {"schemas": [rec.schema], "names": [rec.name]})})
        used.add((rec.schema, rec.name))
