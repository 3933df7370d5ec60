"""`python -m runbooks` is `irctl`."""

from runbooks.cli import main

if __name__ == "__main__":
    main(prog_name="irctl")
