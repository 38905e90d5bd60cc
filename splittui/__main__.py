"""python -m splittui"""

from .cli import main

raise SystemExit(main())
