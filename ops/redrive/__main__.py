"""`python -m ops.redrive`."""

import sys

from ops.redrive.command import main

sys.exit(main())
