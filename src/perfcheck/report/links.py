"""Where a report points: each check's entry in docs/checks.md, and the config file a
finding is attached to. Shared by the formats; a leaf, so that they need not import the
package that renders them."""

from __future__ import annotations

import os

# Each check's why / how to fix, generated from the checklist (python -m perfcheck.docs):
# repository-relative, as perfcheck has no documentation host of its own.
CHECKS_PAGE = "docs/checks.md"


# Where SARIF and GitLab point a finding when no config file was read: the file perfcheck
# reads by default, where a threshold or mute would go. Both readers reject a finding
# without a file (GitHub code scanning rejects the whole SARIF file).
DEFAULT_CONFIG_PATH = "perfcheck.yaml"


def anchor(check_id: str) -> str:
    """The check's anchor in docs/checks.md: db.fk_indexes → db-fk_indexes."""
    return check_id.replace(".", "-")


def help_uri(check_id: str) -> str:
    return f"{CHECKS_PAGE}#{anchor(check_id)}"


def repository_path(config_file: str | None) -> str | None:
    """The config file as a path relative to the working directory (the repository, in CI);
    None when there is none or it lies outside, as a link to it would lead nowhere."""
    if not config_file:
        return None
    relative = os.path.relpath(config_file)
    return None if relative.startswith("..") else relative.replace(os.sep, "/")
