"""``python -m tagcore``: the ``tagcore`` command (see :mod:`tagcore.cli`)."""

from tagcore.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
