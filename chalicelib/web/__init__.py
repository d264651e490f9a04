"""The web dashboard: server-rendered pages over the same services as the REST API.

Signed in with an API key, then carried by a sealed session cookie; see session.py."""
