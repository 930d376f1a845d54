"""RemSvc client side: wire model, stream, fan-out and reports (the embedded server is ``console.server``)."""
