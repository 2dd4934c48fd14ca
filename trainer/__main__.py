"""``python -m trainer PROJECT …``: the training job as its own process (JSON lines)."""

import sys

from trainer.cli import main

sys.exit(main())
