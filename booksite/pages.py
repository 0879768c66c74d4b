"""The pages of the book, in reading order, as jupyter-book's ``_toc.yml`` lists them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml


def _files(node: Any) -> Iterator[str]:
    """Every ``file:`` entry under ``node`` (parts, chapters and sections, depth first)."""
    if isinstance(node, dict):
        if "file" in node:
            yield str(node["file"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                yield from _files(child)
    elif isinstance(node, list):
        for child in node:
            yield from _files(child)


def toc_pages(toc: Path) -> list[str]:
    """Docnames of the book (root first, suffix dropped), e.g. ``['book/intro', 'book/setting', ...]``."""
    try:
        data = yaml.safe_load(Path(toc).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{toc}: not valid YAML ({' '.join(str(exc).split())[:160]})") from None
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"{toc}: no 'root' entry, not a jupyter-book table of contents")
    names = [str(data["root"])] + list(_files(data))
    seen: set[str] = set()
    pages = []
    for name in names:
        stem = name.rsplit(".", 1)[0] if name.endswith((".md", ".ipynb", ".rst")) else name
        if stem not in seen:
            seen.add(stem)
            pages.append(stem)
    return pages
