"""``python -m services.mapper``: run the mapper service (``migrate`` to only migrate;
``backfill FILE.ndjson --tenant T [--dry-run]`` to load a history file through the bulk API)."""

import sys

from services.mapper.app import main
from services.mapper.backfill import cli

if __name__ == "__main__":
    if sys.argv[1:2] == ["backfill"]:
        cli(sys.argv[2:])
    else:
        main()
