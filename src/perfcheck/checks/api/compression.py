"""`api.compression`: Responses are compressed."""

from __future__ import annotations

from perfcheck.checks.support.http import (
    answered_2xx,
    body_size,
    compressed,
    header,
    is_compressible,
    kib,
    label,
    media_type,
    names,
    share_score,
)
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


@check("api.compression", requires=["http.endpoints", "http.html"])
def compression(facts, t):
    min_bytes = int(t["min_bytes"])
    findings, judged, good = [], 0, 0.0
    right: list[str] = []  # the responses compressed (or not) as they should be, to name them
    for e in [*facts["http.html"], *facts["http.endpoints"]]:
        if not answered_2xx(e):
            continue
        mt = media_type(e)
        if e.get("kind") == "media" or mt.startswith(("audio/", "video/")):
            judged += 1
            if compressed(e):
                findings.append(Finding("fail", label(e), f"streaming media ({mt}) is sent with Content-Encoding: "
                                        f"{e['content_encoding']}; compressing audio/video wastes CPU and breaks range requests",
                                        Fix.manual(f"exclude {mt} from compression (nginx gzip_types / GZipMiddleware exclude_content_types)"),
                                        {"content_type": mt, "content_encoding": e["content_encoding"]}))
            else:
                good += 1
                right.append(label(e))
            continue
        size = body_size(e)
        if not is_compressible(e) or size < min_bytes:
            continue
        judged += 1
        if not compressed(e):
            findings.append(Finding("fail", label(e), f"{kib(size)} of {mt} sent uncompressed (requested with "
                                    f"Accept-Encoding: gzip)",
                                    Fix.manual(f"enable gzip or brotli for {mt} responses over {min_bytes} bytes"),
                                    {"bytes": size, "content_type": mt, "min_bytes": min_bytes}))
            continue
        vary = header(e, "vary").lower()
        right.append(label(e))
        if "accept-encoding" not in vary and "*" not in vary:
            good += 0.8
            findings.append(Finding("warn", label(e), "compressed without Vary: Accept-Encoding: a shared cache may "
                                    "hand the compressed bytes to a client that did not ask for them",
                                    Fix.manual("add Vary: Accept-Encoding to compressed responses"),
                                    {"content_encoding": e["content_encoding"]}))
        else:
            good += 1
    if not judged:
        return Outcome.skip(f"no text response over {min_bytes} bytes and no media endpoint to judge "
                            "(name API endpoints under http.endpoints)")
    bad = sum(1 for f in findings if f.severity == "fail")
    if not bad:
        summary = f"all {judged} responses compressed as they should be"
    elif right:
        summary = f"{judged - bad}/{judged} responses compressed as they should be ({names(right)}); the others below"
    else:
        summary = f"none of the {judged} responses compressed as they should be"
    return Outcome.scored(share_score(good, judged), summary, metrics={"judged": judged, "wrong": bad}, findings=findings)
