"""Entry point for ``python -m mailbot``: the same command line as ``mailbot``."""

from mailbot.cli import main

raise SystemExit(main())
