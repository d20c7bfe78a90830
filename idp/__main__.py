"""``python -m idp`` is the ``idp`` command."""

import sys

from idp.cli import main

sys.exit(main())
