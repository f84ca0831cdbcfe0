"""`api.cors`: CORS is restricted."""

from __future__ import annotations

from perfcheck.checks.support.http import header, label
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


@check("api.cors", requires=["http.cors"])
def cors(facts, t):
    c = facts["http.cors"]
    origin = c["origin"]
    answers = [a for a in (c["preflight"], c["simple"]) if a.get("status") is not None]
    if not answers:
        return Outcome.error(f"the CORS probes got no answer: {c['preflight'].get('error')}")
    findings, score = [], 1.0
    grants = []
    for a in answers:
        acao = header(a, "access-control-allow-origin").strip()
        creds = header(a, "access-control-allow-credentials").strip().lower() == "true"
        grants.append({"request": label(a), "allow_origin": acao or None, "credentials": creds})
        if acao in (origin, "*", "null") and creds:
            how = "reflects any Origin" if acao == origin else f"answers Access-Control-Allow-Origin: {acao}"
            score = 0.0
            findings.append(Finding("fail", label(a), f"{how} with Access-Control-Allow-Credentials: true: any web site "
                                    "can call the API as the signed-in user",
                                    Fix.manual("allow an explicit list of origins; never reflect Origin with credentials"),
                                    {"origin_sent": origin, "allow_origin": acao, "credentials": True}))
        elif acao == origin:
            score = min(score, 0.6)
            findings.append(Finding("warn", label(a), "reflects any Origin (without credentials): an allow-list is safer",
                                    Fix.manual("allow an explicit list of origins"), {"origin_sent": origin, "allow_origin": acao}))
    pre = c["preflight"]
    if pre.get("status") is not None and pre["status"] >= 500:
        score = min(score, 0.6)
        findings.append(Finding("warn", label(pre), f"the preflight crashed ({pre['status']})", Fix.manual("answer OPTIONS preflights"),
                                {"status": pre["status"]}))
    allowed = c.get("allowed_preflight")
    if allowed is not None:
        ok = allowed.get("status") in (200, 204) and header(allowed, "access-control-allow-origin") == c["allowed_origin"]
        if not ok:
            score = min(score, 0.6)
            findings.append(Finding("warn", label(allowed), f"the preflight from the allowed origin {c['allowed_origin']} "
                                    f"was not granted (status {allowed.get('status')}, Access-Control-Allow-Origin: "
                                    f"{header(allowed, 'access-control-allow-origin') or 'none'})",
                                    Fix.manual("answer preflights from allowed origins with 204 and the CORS headers"),
                                    {"status": allowed.get("status")}))
    if not findings:
        wildcard = any(g["allow_origin"] == "*" for g in grants)
        summary = ("any origin may read public answers (*, no credentials)" if wildcard
                   else f"a foreign origin gets no CORS grant on {c['path']}")
        return Outcome.scored(score, summary, metrics={"grants": grants})
    return Outcome.scored(score, findings[0].message, metrics={"grants": grants}, findings=findings)
