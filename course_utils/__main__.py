"""`python -m course_utils doctor`: check that this machine is ready for the course."""
import sys

from .doctor import main

if __name__ == "__main__":
    if sys.argv[1:] != ["doctor"]:
        sys.exit("usage: python -m course_utils doctor")
    sys.exit(main())
