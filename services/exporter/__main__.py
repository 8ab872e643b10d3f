"""``python -m services.exporter``: run the exporter service (``migrate`` to only migrate)."""

from services.exporter.app import main

if __name__ == "__main__":
    main()
