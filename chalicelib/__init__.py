"""Cronpilot: an adaptive HTTP scheduler on Chalice, DynamoDB and SQS."""

__version__ = "0.1.0"
