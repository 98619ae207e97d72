"""``python -m skysend_http.admin_cli``: the same as ``skysend-cli``."""

import sys

from skysend_http.admin_cli import main

sys.exit(main())
