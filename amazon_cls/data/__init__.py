"""Chips on disk -> raw integer batches. Data sources, one file per kind of chip (`sources`); the
Kaggle layout and its submission file (`layout`, `submission`); decoding (`decode`); the data
check (`check`); folds shared by every model (`folds`); the decoded-chip cache (`cache`);
augmentation (`transforms`, `dehaze`); the sampler, dataset and loader (`dataset`, `batches`); the
datamodules (`datamodule`) and what training asks of one (`contract`); the embedded synthetic data
set (`synthetic`); a first look at a data set (`eda`)."""
