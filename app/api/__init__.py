"""The FastAPI backend: health checks and task submission over HTTP."""
