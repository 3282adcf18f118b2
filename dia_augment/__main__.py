"""``python -m dia_augment``: the same as the ``dia-augment`` command."""

import sys

from dia_augment.cli import main

sys.exit(main())
