"""The job's stages, each reading and writing plain data, run by `khabar nightly` for one
night and by `khabar backfill` over an archive, locally or on Ray (khabar/backfill/):

  (a) read: files -> validated, cleaned, hashed stories (khabar/stages/read.py; parallel
      per file);
  (b) embed: model inputs whose content-and-model key has no vector -> vectors
      (khabar/stages/embed.py; parallel per batch, the model loaded once per worker);
      a near-verbatim copy of a story embedded before it takes that story's vector
      instead, decided where stories are stored (khabar/stages/reuse.py; a backfill
      embeds every text ahead and then stores the same choice a nightly makes);
  (c) candidates: each story's earlier stories within the time window, by exact search
      (khabar/stages/candidates.py; parallel per day);
  (d) fold: duplicate groups and events in publication order, one day at a time
      (khabar/clustering.py; sequential, no model; the decisions live in `cluster/`).
"""
