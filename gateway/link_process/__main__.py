"""``python -m gateway.link_process``: a link worker (see :mod:`gateway.link_process.worker`)."""

import sys

from gateway.link_process.worker import main

sys.exit(main())
