"""Operator tools that run from a workstation against a deployed stack; not shipped in the Lambda layer.

They read and write what the function does through the function's own package
(layers/ges_backup_export), so the two cannot disagree on a format; it is put on the path here.
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
