"""The ``pyrometer`` command (and ``python -m pyrometer``)."""

import sys


def main() -> None:
    from pyrometer import _native

    sys.exit(_native.main(["pyrometer", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
