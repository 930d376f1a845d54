"""The embedded RemSvc server: INI configuration, the command runner and the ``RS.RemSvc`` service.

The client side lives in ``console.remsvc``; this package shares only its wire model and stubs.
"""
