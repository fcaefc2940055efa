"""``python -m geogan.cli``: the ``geogan`` command."""

from geogan.cli import main

if __name__ == "__main__":
    main()
