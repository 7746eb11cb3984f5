import sys

from symcorr.cli import main

sys.exit(main())
