"""The MyST front matter every hand-written test notebook starts with (jupytext's myst format and
the python3 kernel), so the notebooks the runner tests write differ only in their cells."""

MYST_HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
