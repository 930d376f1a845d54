"""Test helpers: real peers on loopback (embedded server, certificates, HTTP fault server)."""
