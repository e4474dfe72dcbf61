"""`python -m indexer [OPTIONS] [PATH...]`: the background indexer, exactly `searchapp watch`
(the data directory comes from SEARCHAPP_DATA_DIR, or the per-user default)."""

import sys

from searchapp.cli.app import app

app(args=["watch", *sys.argv[1:]], prog_name="python -m indexer")
