"""Zero-shot tagging: label vocabularies scored against the stored image vectors."""
