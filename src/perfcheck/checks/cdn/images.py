"""`cdn.images`: Images are modern and right-sized."""

from __future__ import annotations

from perfcheck.checks.support.http import answered_200, kib, media_type
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

LEGACY = ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff")


@check("cdn.images", requires=["http.assets"])
def images(facts, t):
    limit = int(t["max_image_bytes"])
    imgs = [a for a in answered_200(facts["http.assets"]) if media_type(a).startswith("image/")]
    if not imgs:
        return Outcome.skip("no image found in the HTML or configured (kind: image)")
    findings, score_sum = [], 0.0
    for a in imgs:
        mt = media_type(a)
        size = a.get("wire_bytes") or 0
        score = 1.0
        if mt in LEGACY and not a.get("modern_alternative"):
            score -= 0.5
            findings.append(Finding("warn", a["path"], f"served as {mt} although the request accepted AVIF and WebP",
                                    Fix.manual("serve WebP/AVIF by content negotiation (Vary: Accept) or <picture> sources"),
                                    {"content_type": mt, "bytes": size}))
        if size > limit:
            score = 0.0
            findings.append(Finding("fail", a["path"], f"{kib(size)} image, over the {kib(limit)} budget",
                                    Fix.manual("resize to the displayed size and compress (WebP/AVIF, srcset)"),
                                    {"bytes": size, "max_bytes": limit, "content_type": mt}))
        score_sum += score
    formats = sorted({media_type(a) for a in imgs})
    heavy = sum(1 for f in findings if f.severity == "fail")
    summary = (f"{len(findings)} image problem(s) in {len(imgs)} images" if findings
               else f"{len(imgs)} images, modern formats ({', '.join(formats)}), none over {kib(limit)}")
    return Outcome.scored(score_sum / len(imgs), summary,
                          metrics={"images": len(imgs), "oversized": heavy, "formats": formats}, findings=findings)
