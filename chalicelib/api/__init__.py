"""REST API: Chalice blueprints by resource, one error envelope, auth and limits in middleware."""
