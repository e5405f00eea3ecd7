"""``python -m symsynth``: see symsynth.cli."""

from symsynth.cli import main

raise SystemExit(main())
