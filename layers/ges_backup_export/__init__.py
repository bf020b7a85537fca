"""Export Huawei Cloud GES graph backups to OBS, follow each started job to its end, and keep the GES
token fresh.

The Lambda handlers (functions/*/app.py) only recognise their trigger; the rest lives here, a folder per
function over what they share:

- core/: errors, ids, times, the message formats, settings' shared checks, deadline, logging, metrics,
  scrubbing, idempotency plumbing;
- aws/: the boto3 clients' configuration and the SQS sends;
- ges/: the GES client, its bounded HTTP exchanges and the one retry loop, the token from the secret;
- export/: the export function (requests, triggers, every graph, concurrency, deduplication, delivery);
- tracker/: the job tracker (status checks, completion events);
- rotation/: the token rotation (the four steps, the secret's versions, the IAM client).
"""
