"""`cdn.compression`: Text assets are compressed."""

from __future__ import annotations

from perfcheck.checks.support.http import answered_200, body_size, compressed, is_compressible, kib, media_type, share_score
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


@check("cdn.compression", requires=["http.assets"])
def asset_compression(facts, t):
    min_bytes = int(t["min_bytes"])
    text_assets = [a for a in answered_200(facts["http.assets"]) if is_compressible(a) and body_size(a) >= min_bytes]
    if not text_assets:
        return Outcome.skip(f"no text asset (CSS, JavaScript, SVG) over {min_bytes} bytes found")
    findings, good = [], 0.0
    for a in text_assets:
        if compressed(a):
            good += 1
            continue
        findings.append(Finding("fail", a["path"], f"{kib(body_size(a))} of {media_type(a)} sent uncompressed",
                                Fix.manual("enable brotli or gzip for text/css, application/javascript and image/svg+xml "
                                       "(nginx: gzip on; gzip_types …; or precompressed gzip_static/brotli_static)"),
                                {"bytes": body_size(a), "content_type": media_type(a)}))
    codings = sorted({a["content_encoding"] for a in text_assets if compressed(a)})
    summary = (f"{len(findings)} of {len(text_assets)} text assets uncompressed" if findings
               else f"{len(text_assets)} text assets compressed ({', '.join(codings)})")
    return Outcome.scored(share_score(good, len(text_assets)), summary,
                          metrics={"text_assets": len(text_assets), "uncompressed": len(findings), "encodings": codings},
                          findings=findings)
