"""Accessibility checks in the real browser: axe-core (vendored in tests/vendor/axe-core) run in a
Playwright page; `assert_accessible` fails naming every WCAG 2.x level A violation (rule, what it
means, the elements), so a page's missing label or name reads as a test failure, not a number."""
from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
LEVEL_A = ["wcag2a", "wcag21a"]


async def violations(page, tags=LEVEL_A) -> list[dict]:
    """axe's violations of `tags` on the page as it is now (the context must bypass CSP: the page's
    own policy allows no injected script)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", tags)
    return result["violations"]


async def assert_accessible(page, what: str = "") -> None:
    found = await violations(page)
    lines = [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["html"][:120] for n in v["nodes"][:5])
             for v in found]
    assert not found, f"accessibility (WCAG level A) on {what or page.url}:\n" + "\n".join(lines)
