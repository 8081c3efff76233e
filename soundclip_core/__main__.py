"""`python -m soundclip_core` is the same as the `soundclip` command."""

import sys

from .cli import main

sys.exit(main())
