from perfcheck.redact import redact_url, scrub, secrets_in_url


def test_urls_lose_passwords_and_tokens():
    assert redact_url("postgresql://app:s3cr%40t@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert redact_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert "abc123" not in redact_url("https://api.example/x?token=abc123&page=2")
    assert redact_url("postgresql://app@db/app") == "postgresql://app@db/app"


def test_scrub_removes_known_secrets_and_stray_credentials():
    secrets = secrets_in_url("postgresql://app:p%40ss@db/app")
    assert scrub("failed for p@ss and p%40ss", secrets) == "failed for *** and ***"
    assert scrub("see postgresql://x:y@h/d", []) == "see postgresql://x:***@h/d"
