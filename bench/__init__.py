"""The benchmark behind the performance table of docs/reliability.md: `make bench` (see bench/run.py).
Not shipped."""
