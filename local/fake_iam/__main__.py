"""``python -m local.fake_iam --user-file users.json``: the fake IAM alone, until Ctrl-C."""

from __future__ import annotations

import argparse

from local.fake_http import serve_until_interrupted
from local.fake_iam.answers import TOKENS_PATH
from local.fake_iam.fake import FakeIam, load_users


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake IAM token service until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--user-file", required=True, help="JSON list of users (see load_users)")
    args = parser.parse_args(argv)
    fake = FakeIam(host=args.host, port=args.port)
    count = load_users(fake, args.user_file)
    serve_until_interrupted(
        fake, lambda: [f"fake IAM listening on {fake.url}{TOKENS_PATH} with {count} users"]
    )


if __name__ == "__main__":
    main()
