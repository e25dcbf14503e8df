"""Every relative link in the README and the docs' chapters leads somewhere: the file exists,
and an `#anchor` names a heading of the target as GitHub slugs it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"``.*?``|`[^`\n]*`", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#* *$", re.MULTILINE)


def prose(markdown: str) -> str:
    """The text outside fenced blocks and inline code, where links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text only, lowercase, punctuation dropped (but
    `-` and `_`), each space a `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Each heading's slug, repeats numbered as GitHub does (`-1`, `-2`)."""
    slugs, counts = set(), dict[str, int]()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        count = counts.get(base, 0)
        counts[base] = count + 1
        slugs.add(base if count == 0 else f"{base}-{count}")
    return slugs


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ... are not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{target}: no heading #{anchor} in {linked.name}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_a_heading(path: Path) -> None:
    assert broken_links(path) == []


def test_a_missing_file_or_heading_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The version rule: never `ts_ms`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Two words\n\n"
        "[ok](other.md#the-version-rule-never-ts_ms) [ok](#two-words) [ok](https://x.y/#z)\n"
        "[gone](missing.md) [no heading](other.md#the-version-rule) [here](#two_words)\n"
        "`[code](missing-too.md)`\n"
    )
    assert broken_links(page) == [
        f"missing.md: no file {tmp_path / 'missing.md'}",
        "other.md#the-version-rule: no heading #the-version-rule in other.md",
        "#two_words: no heading #two_words in page.md",
    ]


def test_slugs_follow_githubs_rules() -> None:
    assert slug("The changes topic, replay and dead letters") == (
        "the-changes-topic-replay-and-dead-letters"
    )
    assert slug("What the table needs (REPLICA IDENTITY)") == (
        "what-the-table-needs-replica-identity"
    )
    assert slug("Change events (wire format v1)") == "change-events-wire-format-v1"
