"""The token rotation: Secrets Manager's four steps for the GES token secret, with a token from IAM."""
