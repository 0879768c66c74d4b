"""``python -m ddlib.cli``: the ``ddlib`` command."""
import sys

from . import main

sys.exit(main())
