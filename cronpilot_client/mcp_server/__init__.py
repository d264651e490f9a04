"""The MCP server: one tool per REST operation (catalog.py), input schemas generated from the
API's request models (schema.py), the project's docs as resources (docs.py)."""
