"""Export Huawei Cloud GES graph backups to OBS and hand each started job to a downstream queue.

The Lambda handler (functions/export_backup/app.py) only recognises the trigger; everything else lives
here, one concern per module: `requests` parsing, `ges` access, `token` reading, `deduplication`,
`queues` for the downstream and dead-letter sends, and `exporter` tying them together.
"""
