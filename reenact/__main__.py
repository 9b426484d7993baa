"""`python -m reenact` is the `reenact` command."""

import sys

from .cli import main

sys.exit(main())
