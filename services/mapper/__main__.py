"""``python -m services.mapper``: run the mapper service (``migrate`` to only migrate)."""

from services.mapper.app import main

if __name__ == "__main__":
    main()
