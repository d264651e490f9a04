"""Use cases behind the API: validate, check ownership and limits, then write through the store."""
