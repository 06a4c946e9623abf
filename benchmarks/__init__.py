"""`make bench`: the project's fast paths timed against their plain alternatives (`measure`), run by
`python -m benchmarks.bench`. Kept beside the package, as timm keeps `benchmark.py`: tools that
are not the library do not ship in the wheel."""
