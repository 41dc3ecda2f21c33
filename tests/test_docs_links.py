"""The README and the Markdown pages link to files that exist, and name no internal issue numbers.

``make docs`` checks the links inside the site (Sphinx ``-n`` and MyST's cross-reference warnings), but
the README is not part of the site: it is read on the repository's page and on PyPI, where its relative
links to ``docs/`` must lead somewhere. This test checks every relative link of the user-facing Markdown
files against the tree, the way a Git host resolves them (relative to the file, anchors stripped).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

USER_FACING = [
    REPO_ROOT / "README.md",
    REPO_ROOT / "CHANGELOG.md",
    REPO_ROOT / "SECURITY.md",
    REPO_ROOT / "dags_example" / "README.md",
    *sorted((REPO_ROOT / "docs").rglob("*.md")),
]
USER_FACING = [p for p in USER_FACING if "_build" not in p.parts]
# ``[text](target)``, not images' alt text nor code; targets with a scheme are external.
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_ISSUE = re.compile(r"\bissues? #?\d+|\(#\d+\)", re.IGNORECASE)


def _without_code(text: str) -> str:
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _relative_links(path: Path) -> list[str]:
    targets = _LINK.findall(_without_code(path.read_text()))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("path", USER_FACING, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_lead_to_files(path: Path) -> None:
    missing = [t for t in _relative_links(path) if not (path.parent / t.split("#")[0]).exists()]
    assert missing == [], f"{path.relative_to(REPO_ROOT)} links to missing files: {missing}"


def test_the_readme_links_to_the_site_pages() -> None:
    linked = {(REPO_ROOT / t.split("#")[0]).resolve() for t in _relative_links(REPO_ROOT / "README.md")}
    # index, changelog and security only include what the README links to directly.
    wrappers = {"index.md", "changelog.md", "security.md"}
    # The decision records are reached through their index.
    pages = [
        p
        for p in USER_FACING
        if p.parent.is_relative_to(REPO_ROOT / "docs") and p.name not in wrappers and p.parent.name != "adr"
    ]
    unlinked = [str(p.relative_to(REPO_ROOT)) for p in pages if p.resolve() not in linked]
    assert unlinked == [], f"README.md does not link to {unlinked}"


# docs/ARCHITECTURE.md is the maintainers' page, kept by them; everything else here is read by users.
@pytest.mark.parametrize(
    "path",
    [p for p in USER_FACING if p.name != "ARCHITECTURE.md"],
    ids=lambda p: str(p.relative_to(REPO_ROOT)),
)
def test_no_internal_issue_numbers(path: Path) -> None:
    found = _ISSUE.findall(path.read_text())
    assert found == [], f"{path.relative_to(REPO_ROOT)} names internal issue numbers: {found}"
