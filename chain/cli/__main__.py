"""``python -m chain.cli``: the ``silkport`` command."""

import sys

from chain.cli.main import main

sys.exit(main())
