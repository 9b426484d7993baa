"""`python -m reenact.eval self|cross …` (and `accelerate launch -m reenact.eval …`)."""

import sys

from .command import main

sys.exit(main())
