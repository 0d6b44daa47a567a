"""``python -m systems.nats [VERSION ...]``: build and cache nats-server (none: the default)."""

import sys

from systems.nats.install import main

sys.exit(main())
