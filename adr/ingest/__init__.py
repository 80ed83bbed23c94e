"""Ingest: picture and production audio in, a session and its cue sheet out."""
