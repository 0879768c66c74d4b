"""Speed benchmarks of ddlib, every figure measured side by side in one run.

``python -m benchmarks --size book`` times ``ddlib.distill`` against a peer-style reference
(``benchmarks.reference``), against one streaming pass over the real data, and across n, width
and d; see ``benchmarks/README.md``.
"""
