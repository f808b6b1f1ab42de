"""Recording benchmark results: each benchmark owns one ``## `` section of RESULTS.md."""

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def record_section(title: str, section: str, results: Path = RESULTS) -> None:
    """Replace the section headed ``title`` (a ``## `` line) with ``section``, or append it."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)
