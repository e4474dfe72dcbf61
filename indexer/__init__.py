"""The indexer: scan photo folders, decode, embed in batches, write to the store."""
