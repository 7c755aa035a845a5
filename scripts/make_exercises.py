"""Regenerate exercises/ from solutions/ (same as `python -m course_utils exercises`); see course_utils.exercises."""
import sys

from course_utils.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["exercises", *sys.argv[1:]]))
