"""adr's benchmarks: run from the project root as modules, e.g. ``.venv/bin/python -m bench.run``.

``bench.run`` is the main benchmark (its measuring in ``bench.measure``, its Markdown in
``bench.tables``); each ``bench.bench_*`` measures one stage. See bench/README.md.
"""
