"""``python -m local.fake_ges``: the fake GES alone, seeded with the sample graphs, until Ctrl-C."""

from __future__ import annotations

import argparse
import os

from local.fake_ges.fake import FakeGes
from local.fake_ges.seed import SAMPLE_PROJECT_ID, describe_seed, seed_sample_graphs
from local.fake_http import serve_until_interrupted


def write_token(path: str, token: str) -> None:
    """The token into ``path``, readable by its owner only (mode 0600, also for an existing file)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with open(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Run a fake GES management plane, seeded with the sample graphs, until Ctrl-C."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token-file", help="write the valid token to this file (it is never printed)")
    args = parser.parse_args(argv)
    fake = FakeGes(host=args.host, port=args.port)
    seed_sample_graphs(fake)
    if args.token_file:
        write_token(args.token_file, fake.token)

    def describe() -> list[str]:
        if args.token_file:
            where = f"The token is in the token file {args.token_file} (mode 0600); it is never printed."
        else:
            where = "The token is written nowhere: give --token-file to have it in a file."
        return [
            f"fake GES listening on {fake.url} (token: {len(fake.token)} characters)",
            *describe_seed(fake),
            "environment for a handler pointed at it:",
            f"GES_ENDPOINT={fake.url}",
            f"GES_PROJECT_ID={SAMPLE_PROJECT_ID}",
            where,
            "Ctrl-C stops it.",
        ]

    serve_until_interrupted(fake, describe)


if __name__ == "__main__":
    main()
