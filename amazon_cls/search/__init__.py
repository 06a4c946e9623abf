"""What `tune` runs. The package is named for its work, the search, because `tune` already names
the command and its config group of spaces. A search over the training config with Optuna, used
directly (a study in a database that resumes and is shared by workers; `study`), each trial a
Hydra composition of the training config trained by the project's own training function and
pruned on `val/f2` (`trials`), the space (`space`), and the study's outputs (`outputs`)."""
