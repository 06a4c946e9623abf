"""Ensembles, what the `ensemble` command makes. The package is named for its work, blending
models' probabilities, because `ensemble` already names the command and its output folder.
Finished training runs as members (`members`), the registry of methods that combine their
models' out-of-fold probabilities, scored cross-fitted, and the choice among them (`methods`),
the whole combination step (`combine`) and its report (`report`)."""
