"""``python -m track.cli``: the same as the ``track`` console script."""

import sys

from track.cli import main

sys.exit(main())
