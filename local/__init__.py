"""Local stand-ins: fake GES, moto server wiring, local poller and runner."""
