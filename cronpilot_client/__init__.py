"""Cronpilot's command-line client and MCP server: thin clients of the REST API.

`cronpilot` (cli/) and the MCP server (mcp_server/) share one REST client (api.py), one way of
finding the URL and credentials (config.py), and the API's own request models for checking
input before anything is sent (validation.py).
"""

__version__ = "0.1.0"
