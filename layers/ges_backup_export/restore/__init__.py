"""Restore tests: proving, on a schedule, that the exports import back into GES; and imports by hand.

The parts (docs/restore-tests.md tells the whole story):

- `history.py`: every export whose job succeeded, as the job tracker records it (table keyed by graph
  and end time), and the window a test chooses from;
- `request.py`: the two events the tester takes (a schedule tick, a console import), checked field by field;
- `tester.py`: one test per graph: choose an export, claim the graph, import once (the export records'
  deduplication, unknown outcomes included), hand the import job to the follow-up queue;
- `follow.py`: the import job followed to its end, the backup it added found and deleted, one event;
- `announcements.py`: that one event per test, and the restore metrics;
- `running.py`: one import at a time per graph;
- `settings.py`, `runtime.py`: the tester's settings and parts (and the history settings the tracker reads).
"""
