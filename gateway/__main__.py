"""``python -m gateway`` is the same as ``sdgw``."""

from gateway.cli import main

raise SystemExit(main())
