"""``python -m predictql`` and the ``predictql`` command (``run``)."""

import sys

from predictql import allocator


def run() -> int:
    # Before the CLI's imports (seconds on a busy machine): ``serve`` may re-execute itself here.
    allocator.serve_with_malloc(sys.argv[1:])
    from predictql.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
