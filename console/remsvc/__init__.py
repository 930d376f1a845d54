"""RemSvc wire client, dispatch model, fan-out and the embedded server."""
