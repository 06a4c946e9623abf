"""Training one model on one fold (`fit`: the config's objects built and checked, the fit, the
final validation of the best checkpoint, the test folders' predictions and the run's record) and
checking every member of a sweep before the first trains (`sweep`)."""
