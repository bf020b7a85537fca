"""Operator tools that run from a workstation against a deployed stack; not shipped in the Lambda layer."""
