"""`python -m genimg ...` is the `genimg` command."""

import sys

from genimg.cli import main

sys.exit(main())
