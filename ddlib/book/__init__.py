"""The book layer: what turns the core's mathematics into the book's pages.

- ``claims``: a claim is a sentence, its regime and its checks; verdicts and verdict tables.
- ``pages``: the page helpers the notebooks call (glued numbers and sentences, verdict and
  calibration blocks, the reproduce box, the verdict summary).
- ``results``: what a notebook leaves behind (tidy CSVs and one JSON record with provenance).
- ``figures``: how the book's figures look (one style and SVG output, set once per page; the
  ticks of log axes).
- ``notebooks``: the one list of the book's notebooks and the experiment module behind each.
- ``layout``: ddlib's three parts and its import graph (the "How ddlib is built" page, and the
  test that keeps the imports one way).

The experiments themselves (one module per notebook, their profiles, run functions and claims)
are ``ddlib.experiments``, also part of this layer.  The book layer imports the core, never the
command line.
"""
