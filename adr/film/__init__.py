"""A whole film: the project file (reels and cast), its status, and the batch on Ray.

:mod:`adr.film.project` reads and writes the project file, :mod:`adr.film.status` says per
reel and actor what is done, :mod:`adr.film.units` holds the units of work (one actor's
enrollment, a chunk of a reel's analysis, one cue's render, one reel's export) as plain
functions over the session and voice folders (:mod:`adr.film.chunks`: a reel's analysis cut
into chunks of whole line groups), and :mod:`adr.film.batch` runs them as Ray
tasks (its planning; :mod:`adr.film.driver` submits and follows the tasks). Only these two
import Ray, and only when a batch starts.
"""
