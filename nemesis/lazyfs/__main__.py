"""``python -m nemesis.lazyfs BACKING MOUNTPOINT --control SOCKET``; see :mod:`.fs`."""

import sys

from nemesis.lazyfs.fs import main

sys.exit(main())
