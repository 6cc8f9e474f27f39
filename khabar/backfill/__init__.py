"""`khabar backfill`: the nightly job's stages over an archive, locally or on Ray."""
