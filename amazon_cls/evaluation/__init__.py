"""How good is a model, and is it better than another, on chips whose labels are known: the
predictions to score, from a run's or ensemble's out-of-fold files, a checkpoint, or a submission
(`predictions`); the labels they are scored against (`truth`); bootstrap intervals and paired
comparisons (`bootstrap`); and the report (`report`)."""
