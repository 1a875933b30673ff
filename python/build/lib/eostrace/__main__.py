"""python -m eostrace validate FILE...   (exit 0 valid, 1 invalid, 2 unreadable, like `eostrace validate`)"""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m eostrace validate FILE...", file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    if args[0] != "validate":
        print(f"python -m eostrace: unknown command {args[0]!r} (expected: validate)", file=sys.stderr)
        return 2
    from .format import main as validate_main
    return validate_main(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
