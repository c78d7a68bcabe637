"""``python -m osrbench``: the same command line as ``osrbench``."""

import sys

from osrbench.cli import main

sys.exit(main())
