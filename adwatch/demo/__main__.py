"""``python -m adwatch.demo`` serves the demo site (same options as adwatch.demo.server)."""

from __future__ import annotations

from adwatch.demo.server import main

raise SystemExit(main())
