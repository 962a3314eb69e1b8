"""Exit codes of one-shot commands (documented in the README's CLI reference)."""

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected error
EXIT_INVALID = 2  # config, policy or other input invalid
EXIT_AUTH = 3  # authentication failed
EXIT_UNAVAILABLE = 4  # API, GPUs or state dir unavailable or implausible; nothing changed
EXIT_LOCKED = 5  # another writer holds the lock
