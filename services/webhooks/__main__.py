"""``python -m services.webhooks``: run the webhooks service (``migrate`` to only migrate)."""

from services.webhooks.app import main

if __name__ == "__main__":
    main()
