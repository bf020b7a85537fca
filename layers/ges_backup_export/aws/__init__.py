"""The AWS side every function shares: how boto3 clients are configured, and sending to SQS."""
