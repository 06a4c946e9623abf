"""What is on disk, and the only code that knows its names and rules: atomic writes (`atomic`),
the one record of finished work (`done`) and how it names files (`records`), the output folders of
every command (`run_folder`, `ensemble_folder`, `monitor_folder`, `report_folders`, each a list
of `folder.File` names), the
probability tables every stage exchanges (`tables`), the project's checkpoints (`checkpoint`) and
figures (`figures`). A map format's suffix is its own (`geo.outputs`), and the Kaggle layout's names
are the data's (`data.layout`)."""
