"""DynamoDB storage through pynamodb: models mirror infra/, repositories scope by tenant."""
