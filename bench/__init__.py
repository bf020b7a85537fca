"""The benchmark behind the README's performance table: `make bench` (see bench/run.py). Not shipped."""
