"""``python -m services.auth``: run the auth service (``migrate`` to only migrate)."""

from services.auth.app import main

if __name__ == "__main__":
    main()
