from perfcheck import scoring
from perfcheck.model import CheckResult, Status


def test_lognormal_is_point_nine_at_target_and_half_at_median():
    assert abs(scoring.lognormal(20, 20, 80) - 0.9) < 1e-6
    assert abs(scoring.lognormal(80, 20, 80) - 0.5) < 1e-6
    assert scoring.lognormal(5, 20, 80) > 0.97
    assert scoring.lognormal(2000, 20, 80) < 0.01
    assert scoring.lognormal(0, 20, 80) == 1.0


def test_higher_is_better_scores_hit_rates():
    assert abs(scoring.higher_is_better(0.8, 0.8, 0.5) - 0.9) < 1e-6
    assert scoring.higher_is_better(0.99, 0.8, 0.5) > 0.99
    assert scoring.higher_is_better(0.55, 0.8, 0.5) < 0.6


def _result(check_id, status, score, weight=1.0, category="database"):
    return CheckResult(check_id, category, "postgres", check_id, status, score, "", weight=weight)


def test_category_is_weighted_mean_of_judged_checks_and_errors_stay_unknown():
    results = [
        _result("a", Status.PASS, 1.0, weight=3),
        _result("b", Status.FAIL, 0.0, weight=1),
        _result("c", Status.SKIP, None, weight=5),
        _result("d", Status.ERROR, None, weight=5),
        _result("e", Status.ERROR, None, category="cache"),
    ]
    cats = scoring.score_categories(results, [("database", "Database"), ("cache", "Cache")])
    assert cats[0].score == 75 and cats[0].errors == 1 and cats[0].judged == 2
    # A category where everything errored is unknown, never 100.
    assert cats[1].score is None and cats[1].errors == 1
    assert scoring.overall(cats, {}) == 75


def test_status_thresholds():
    assert scoring.status_for(0.95) is Status.PASS
    assert scoring.status_for(0.6) is Status.WARN
    assert scoring.status_for(0.2) is Status.FAIL
