"""`python -m quant_organism ...`: see quant_organism/cli/main.py."""

import sys

from quant_organism.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
