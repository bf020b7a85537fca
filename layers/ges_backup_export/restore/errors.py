"""The restore tester's own failures, beside the export function's (ges_backup_export.core.errors)."""

from __future__ import annotations

from ges_backup_export.core.errors import ExportError, ExportOutcomeUnknown


class ImportOutcomeUnknown(ExportOutcomeUnknown):
    """GES may or may not have started the import (500, 504, no answer after the request was sent, or an
    invocation that died holding the import's lock). Never sent again by a machine: a second import eats
    backup quota, and GES has no idempotency key. A person checks the graph's jobs in GES and settles it
    (`python -m ops.settle`); no event is put for the test until then."""

    code = "ImportOutcomeUnknown"


class ImportInProgress(ExportError):
    """The graph's previous import is still being followed (one import at a time per graph)."""

    code = "ImportInProgress"
