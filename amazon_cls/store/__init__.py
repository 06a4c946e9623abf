"""What is on disk, and the only code that knows its names and rules: atomic writes (`atomic`),
the training run's folder (`run_folder`), the probability tables every stage exchanges
(`tables`) and the project's checkpoints (`checkpoint`)."""
