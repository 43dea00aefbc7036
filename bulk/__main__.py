import sys

from bulk.dask_clean import main

sys.exit(main())
