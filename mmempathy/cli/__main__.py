import sys

from mmempathy.cli import main

sys.exit(main())
