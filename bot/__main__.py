"""``python -m bot``: see ``bot/app/cli.py``."""

import sys

from bot.app.cli import main

sys.exit(main())
