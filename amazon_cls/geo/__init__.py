"""Georeferenced scenes: a raster and how its bands feed a model (`scene`), the grid of chips and
cells cut from it (`grid`), the datamodule that reads them window by window (`tiles`), and what
`map` writes, as a registry of output formats (`outputs`)."""
