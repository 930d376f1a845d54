"""remsvc-console: dispatch RemSvc command streams, inspect Airflow executable bundles, watch health.

gRPC core writes its own log lines (``E1129 … ssl_transport_security.cc``) to stderr, over the TUI and
between ``run``'s one-line causes. It reads ``GRPC_VERBOSITY`` when grpc is imported; every module of the
console is imported through this package first, so the default is set here. Set the variable to see them.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")

__version__ = "0.1.0"
