"""The measurements behind `make bench`: each fast path of the project timed against its plain
alternative on the same chips, in one run (`measure`)."""
