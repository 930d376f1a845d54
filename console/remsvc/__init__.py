"""RemSvc client side (wire model, stream, fan-out, reports) and the embedded server.

gRPC core writes its own log lines (``E1129 … ssl_transport_security.cc``) to stderr, over the TUI
and between ``run``'s one-line causes; it reads ``GRPC_VERBOSITY`` once, when grpc is imported, and
every grpc import of the console goes through this package. Set the variable to see them again.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
