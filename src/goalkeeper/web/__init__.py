"""HTTP: the ASGI application, its thin handlers and the dashboard."""
