"""Helpers the report tests share: what a browser would run in a page."""

from __future__ import annotations

import re
from html.parser import HTMLParser


def executable_markup(page: str) -> list[str]:
    """Script elements and on* event-handler attributes, as an HTML parser sees them (an escaped
    "&lt;script&gt;" in text or in an attribute value is not markup), plus any literal "<script"."""
    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "script":
                found.append(tag)
            found.extend(f"{tag} {name}" for name, _ in attrs if name.lower().startswith("on"))

    Parser().feed(page)
    return found + re.findall(r"<script", page, flags=re.I)
