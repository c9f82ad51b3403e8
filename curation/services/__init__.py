"""Services of the curation app (writes): sources and imports, face filtering, normalisation, releases."""
