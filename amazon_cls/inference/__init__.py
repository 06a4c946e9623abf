"""New chips -> probabilities -> tags: what predicts (`predictor`: a checkpoint, or an ensemble
folder's saved combination, through Lightning's `Trainer.predict`), the prediction writer that
gathers every rank's share (`writer`). The Kaggle submission it writes is defined with the Kaggle
layout, in `data.submission`."""
