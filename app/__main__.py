"""``python -m micrographia.app [FILE…] [--screenshot OUT.png]``."""

import sys

from micrographia.app.main_window import main

sys.exit(main())
