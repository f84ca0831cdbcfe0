"""The values every layer shares: findings, fixes, check results and the report.

The JSON form produced by `Report.to_dict` is the public contract described in
docs/report.md ("perfcheck.report/1", with its JSON Schema in schemas/): fields may be added, never removed or renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SCHEMA = "perfcheck.report/1"


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    MANUAL = "manual"

    @property
    def judged(self) -> bool:
        """Whether the check measured something and so counts in the score."""
        return self in (Status.PASS, Status.WARN, Status.FAIL)


class Applicability(str, Enum):
    SAFE = "safe"  # can be applied by an apply-… command, e.g. CREATE INDEX CONCURRENTLY
    UNSAFE = "unsafe"  # correct in general but may hurt, e.g. DROP INDEX (a replica may use it)
    MANUAL = "manual"  # needs a person: a restart, a code change


@dataclass(frozen=True)
class Fix:
    statements: tuple[str, ...]
    applicability: Applicability = Applicability.SAFE

    @property
    def text(self) -> str:
        return "\n".join(self.statements)

    @classmethod
    def manual(cls, *statements: str) -> "Fix":
        """Guidance a person applies: a setting, a header, a code change."""
        return cls(tuple(statements), Applicability.MANUAL)


@dataclass
class Finding:
    severity: str  # "fail" | "warn" | "info"
    object: str
    message: str
    fix: Fix | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    muted: str | None = None  # the reason, when the mute list in perfcheck.yaml accepts it

    def to_dict(self, check_id: str) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "object": self.object,
            "message": self.message,
            "fix": self.fix.text if self.fix else None,
            "fix_applicability": self.fix.applicability.value if self.fix else None,
            "evidence": self.evidence,
            "key": f"{check_id}:{self.object}",
            "muted": self.muted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        fix = None
        if data.get("fix"):
            fix = Fix(
                tuple(data["fix"].split("\n")),
                Applicability(data.get("fix_applicability") or "manual"),
            )
        return cls(data["severity"], data["object"], data["message"], fix, data.get("evidence") or {},
                   data.get("muted"))


@dataclass
class CheckResult:
    id: str
    category: str
    target: str
    title: str
    status: Status
    score: float | None
    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    weight: float = 1.0
    muted: str | None = None  # the reason, when the mute list accepts the whole check

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "target": self.target,
            "title": self.title,
            "status": self.status.value,
            "score": None if self.score is None else round(self.score, 3),
            "weight": self.weight,
            "summary": self.summary,
            "metrics": self.metrics,
            "findings": [f.to_dict(self.id) for f in self.findings],
            "muted": self.muted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            id=data["id"],
            category=data["category"],
            target=data["target"],
            title=data.get("title", data["id"]),
            status=Status(data["status"]),
            score=data.get("score"),
            summary=data.get("summary", ""),
            metrics=data.get("metrics") or {},
            findings=[Finding.from_dict(f) for f in data.get("findings") or []],
            weight=data.get("weight", 1.0),
            muted=data.get("muted"),
        )


@dataclass
class CategoryScore:
    id: str
    title: str
    score: int | None  # 0-100, None when nothing in it was judged
    judged: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "score": self.score,
                "judged": self.judged, "errors": self.errors}


@dataclass
class Report:
    score: int | None
    categories: list[CategoryScore]
    checks: list[CheckResult]
    targets: dict[str, str] = field(default_factory=dict)  # redacted target URLs
    errors: list[str] = field(default_factory=list)  # target-level problems, one line each
    notes: list[str] = field(default_factory=list)  # target-level remarks (in the JSON only when any)
    version: str = ""
    created_at: str = ""
    duration_s: float = 0.0
    # Set by CI gating (perfcheck.gate.baseline / perfcheck.gate.policy), in the JSON only when set:
    baseline: dict[str, Any] | None = None  # the comparison with --baseline
    gate: dict[str, Any] | None = None  # whether the gate held, and why not

    def check(self, check_id: str) -> CheckResult:
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def category(self, category_id: str) -> CategoryScore:
        for cat in self.categories:
            if cat.id == category_id:
                return cat
        raise KeyError(category_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "score": self.score,
            "categories": [c.to_dict() for c in self.categories],
            "checks": [c.to_dict() for c in self.checks],
            "targets": self.targets,
            "errors": self.errors,
            "perfcheck_version": self.version,
            "created_at": self.created_at,
            "duration_s": round(self.duration_s, 3),
            **({"notes": self.notes} if self.notes else {}),
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            **({"gate": self.gate} if self.gate is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} report (schema: {data.get('schema')!r})")
        return cls(
            score=data.get("score"),
            categories=[
                CategoryScore(c["id"], c.get("title", c["id"]), c.get("score"),
                              c.get("judged", 0), c.get("errors", 0))
                for c in data.get("categories") or []
            ],
            checks=[CheckResult.from_dict(c) for c in data.get("checks") or []],
            targets=data.get("targets") or {},
            errors=data.get("errors") or [],
            version=data.get("perfcheck_version", ""),
            created_at=data.get("created_at", ""),
            duration_s=data.get("duration_s", 0.0),
            notes=data.get("notes") or [],
            baseline=data.get("baseline"),
            gate=data.get("gate"),
        )
