"""Export Huawei Cloud GES graph backups to OBS, follow each started job to its end, and keep the GES
token fresh.

The three Lambda handlers (functions/export_backup, functions/track_export, functions/rotate_token) only
recognise their trigger; everything else lives here, one concern per module: the README's module table
says which does what (settings, requests and triggers, every graph, concurrency, GES and IAM access,
the token, idempotency, delivery, tracking and its events, metrics, rotation).
"""
