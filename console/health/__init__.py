"""HTTP and gRPC health probes, polling, history and transitions."""
