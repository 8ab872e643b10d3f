"""``python -m services.console``: serve the console on :8095."""

from services.console.app import main

if __name__ == "__main__":
    main()
