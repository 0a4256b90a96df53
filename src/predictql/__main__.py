import sys

from predictql.cli import main

sys.exit(main())
