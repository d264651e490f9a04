"""The local stack behind `make run`: moto for DynamoDB and SQS, the Chalice API, timers and
queue pollers, all on 127.0.0.1. See docs/local-stack.md.

Importing this package is cheap on purpose: the entry point sets the AWS environment before
anything that reads it (the app, boto3 clients) is imported.
"""
