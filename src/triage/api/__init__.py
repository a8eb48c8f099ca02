"""The HTTP API: handlers, the operation table and the OpenAPI document built from it."""
