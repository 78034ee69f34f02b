import sys

from automl_meta.cli import main

sys.exit(main())
