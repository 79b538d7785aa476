"""``python -m brenier``: the ``brenier`` command line."""

from .cli import main

if __name__ == "__main__":
    main()
