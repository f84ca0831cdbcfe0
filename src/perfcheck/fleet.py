"""Fleets: several targets (each a service with its own db / redis / url, from `fleet.targets`
in perfcheck.yaml) audited with bounded concurrency. Each gets its own report; a target that
cannot be reached gets a report that says so while the others go on; the summary is a table
of scores per target and category, in JSON and Markdown."""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from perfcheck import __version__, checklist, history as history_mod
import json
from pathlib import Path

from perfcheck.config import Config, ConfigError, did_you_mean
from perfcheck.gate.policy import Policy
from perfcheck.report import outputs
from perfcheck.model import Report
from perfcheck.runner import NoTargetReached, run_audit

SCHEMA = "perfcheck.fleet/1"


@dataclass
class Member:
    name: str
    report: Report
    reached: bool = True
    gate: dict[str, Any] = field(default_factory=dict)


def select(config: Config, names: list[str], everything: bool) -> list[tuple[str, Config]]:
    """(name, that target's configuration) for `--all` or each `--target NAME`."""
    entries = {e["name"]: e for e in config.data["fleet"]["targets"]}
    if not entries:
        raise ConfigError("--all/--target: no fleet in the configuration (fleet.targets: [{name, db, redis, url}, …])")
    for name in names:
        if name not in entries:
            raise ConfigError(f"--target: no fleet target named {name!r}{did_you_mean(name, entries)} "
                              f"(known: {', '.join(entries)})")
    chosen = list(entries) if everything else list(dict.fromkeys(names))
    out = []
    for name in chosen:
        cfg = Config(copy.deepcopy(config.data), config.source, config.lines)
        cfg.data["targets"] = {k: entries[name][k] for k in ("db", "redis", "url") if entries[name].get(k)}
        out.append((name, cfg))
    return out


def unreached(config: Config, message: str) -> Report:
    """The report of a target that could not be reached: no check ran, the errors say why."""
    return Report(score=None, categories=[], checks=[], targets=config.redacted_targets(), errors=[message],
                  version=__version__, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def run(members: list[tuple[str, Config]], checks: dict[str, Any], problems: list[str], *, concurrency: int,
        deadline: float, judge: Callable[[str, Config, Report], dict[str, Any]]) -> list[Member]:
    """Audit every member, at most `concurrency` at once; `judge` gates each report."""

    def one(item: tuple[str, Config]) -> Member:
        name, cfg = item
        started = time.monotonic()
        try:
            report = run_audit(cfg, checks, None, problems, deadline=deadline)
            member = Member(name, report)
        except NoTargetReached as exc:
            member = Member(name, unreached(cfg, f"{name}: unreachable: {exc}"), reached=False)
            member.report.duration_s = time.monotonic() - started
        except ConfigError as exc:
            member = Member(name, unreached(cfg, f"{name}: {exc}"), reached=False)
        member.gate = judge(name, cfg, member.report) if member.reached else \
            {"passed": False, "failures": [member.report.errors[0]]}
        return member

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(members))), thread_name_prefix="perfcheck-fleet") as pool:
        return list(pool.map(one, members))


def summary(members: list[Member], duration_s: float) -> dict[str, Any]:
    categories = list(dict.fromkeys(c.id for m in members for c in m.report.categories))
    return {
        "schema": SCHEMA, "perfcheck_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3), "passed": all(m.gate.get("passed") for m in members),
        "categories": categories,
        "targets": [{"name": m.name, "reached": m.reached, "score": m.report.score,
                     "categories": {c.id: c.score for c in m.report.categories},
                     "gate": m.gate, "errors": m.report.errors, "duration_s": round(m.report.duration_s, 3),
                     "targets": m.report.targets} for m in members],
    }


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def to_markdown(data: dict[str, Any]) -> str:
    cats = data["categories"]
    head = ["target", "score", *cats, "gate", "note"]
    lines = [f"# perfcheck fleet: {len(data['targets'])} targets, "
             f"{'all gates hold' if data['passed'] else 'gate failed'} ({data['duration_s']:.1f} s)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in data["targets"]:
        note = "unreachable: " + t["errors"][0].split(": unreachable: ", 1)[-1] if not t["reached"] else \
            "; ".join(t["gate"].get("failures") or [])
        row = [t["name"], _cell(t["score"]), *(_cell(t["categories"].get(c)) for c in cats),
               "pass" if t["gate"].get("passed") else "FAIL", note.replace("|", "\\|")[:200]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def command(config: Config, loaded: Any, *, names: list[str], everything: bool, formats: list[str],
            output_dir: Path | None, fail_under: int | None, fail_on: str | None, deadline: float,
            err: Callable[[str], None], out: Callable[[str], None]) -> int:
    """`perfcheck audit --all` / `--target NAME`: 0 when every gate holds, 1 otherwise."""
    members = select(config, names, everything)
    history = Path(config.data["history"]) if config.data.get("history") else None
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: exists and is not a directory")
    categories = [c.id for c in checklist.categories()]

    def judge(name: str, cfg: Config, report: Report) -> dict[str, Any]:
        policy = Policy.load(cfg, loaded.checks, categories)
        return policy.judge(report, fail_under=fail_under, fail_on=fail_on).to_dict()

    started = time.monotonic()
    done = run(members, loaded.checks, loaded.problems, concurrency=int(config.data["fleet"]["concurrency"]),
               deadline=deadline, judge=judge)
    data = summary(done, time.monotonic() - started)
    for member in done:
        if output_dir is not None:
            plan = outputs.plan(formats or ["json"], None, output_dir / member.name)
            outputs.write(member.report, plan, color=False)
        if history is not None:
            history_mod.append(history, member.report, member.name)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        outputs.write_atomic(output_dir / "fleet-summary.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        outputs.write_atomic(output_dir / "fleet-summary.md", to_markdown(data))
        err(f"{len(done)} reports and the fleet summary written to {output_dir}")
    out(json.dumps(data, indent=2, ensure_ascii=False) + "\n" if formats == ["json"] else to_markdown(data))
    for member in done:
        if not member.gate.get("passed"):
            err(f"perfcheck: gate failed for {member.name}: {'; '.join(member.gate.get('failures') or [])}")
    return 0 if data["passed"] else 1
