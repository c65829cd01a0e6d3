"""``python -m staticsrv``."""

from staticsrv.cli import main

if __name__ == "__main__":
    main()
